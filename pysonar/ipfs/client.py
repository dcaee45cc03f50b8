"""The IPFS client that PySonar, the mines and the tests use: a typed wrapper over ipfshttpclient.

It talks to one daemon's HTTP API (js-ipfs 0.66.1 or kubo) given as a multiaddr, e.g.
"/ip4/127.0.0.1/tcp/5001/http". Every operation that may wait on the network has a
deadline that is enforced on the daemon (its `timeout` option, so it stops looking for the
blocks) and on the socket; every failure becomes an `IpfsError` subclass.

Why not `ipfshttpclient.connect()`: it refuses js-ipfs's version string. Why not
`client.swarm.connect`: ipfshttpclient 0.7.0 sends each character of the address as an
argument of its own, so `connect` calls the same endpoint itself.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_exceptions

from pysonar.errors import ObjectTooLarge
from pysonar.ipfs.cid import Cid, validate_cid
from pysonar.ipfs.errors import (
    InvalidApiAddress,
    IpfsRequestError,
    IpfsTimeout,
    IpfsUnavailable,
)

T = TypeVar("T")

_LOG = logging.getLogger("pysonar.ipfs")

# ipfshttpclient 0.7.0 passes urllib3 a `strict` argument that urllib3 2.x only warns
# about, once per connection pool; the warning says nothing its users can act on. (Under
# pytest it still shows: this module is imported during collection, whose warning filters
# pytest discards afterwards.)
warnings.filterwarnings(
    "ignore",
    message="The 'strict' parameter is no longer needed on Python 3+",
    category=FutureWarning,
)

# The socket timeout exceeds the daemon's own by this much, so that a daemon which honours
# its timeout answers with its error (which names the cause) before the socket gives up.
SOCKET_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class PeerIdentity:
    """A daemon's peer id and the swarm multiaddrs it announces."""

    peer_id: str
    addresses: tuple[str, ...]


class IpfsClient:
    """A connection to one IPFS daemon's HTTP API.

    Use it as a context manager (or call `close`) to release its HTTP session. It keeps
    one HTTP session, so give each thread its own client.
    """

    def __init__(self, api: str, *, request_timeout: float = 30.0) -> None:
        """Prepares a client; no request is made until an operation is called.

        Parameters:
            api: the daemon's API multiaddr, e.g. "/ip4/127.0.0.1/tcp/5001/http" or
                "/dns4/ipfs-3/tcp/5001/http".
            request_timeout: socket timeout, in seconds, of operations without a deadline
                of their own (add, pins, identity).

        Raises:
            InvalidApiAddress: if `api` is not a multiaddr ipfshttpclient accepts.
        """
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be positive, got {request_timeout}")
        self.api = api
        self.request_timeout = request_timeout
        try:
            # A session keeps one HTTP connection open instead of one per call.
            self._client = ipfshttpclient.Client(api, session=True, timeout=request_timeout)
        except ipfs_exceptions.AddressError as error:
            raise InvalidApiAddress(api, str(error)) from error

    def __enter__(self) -> IpfsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the HTTP session; the client must not be used afterwards."""
        self._client.close()

    def add(self, data: bytes, *, pin: bool = True) -> Cid:
        """Stores `data` as one UnixFS file on this daemon.

        Parameters:
            data: the object's bytes.
            pin: keep it from garbage collection (the default of `ipfs add`).

        Returns:
            Its CIDv0 ("Qm..."), the same on every daemon for the same bytes.

        Raises:
            IpfsUnavailable, IpfsTimeout, IpfsRequestError: if the daemon fails.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"add takes bytes, got {type(data).__name__}")
        cid = self._call(
            "add",
            None,
            self.request_timeout,
            lambda: self._client.add_bytes(bytes(data), opts={"cid-version": 0, "pin": _flag(pin)}),
        )
        return self._expect_cid("add", cid)

    def cat(self, cid: str, *, timeout: float, max_bytes: int) -> bytes:
        """Fetches an object, from this daemon or through it from its connected peers.

        The object's size is read from its root block first, so an object bigger than
        `max_bytes` is refused before its content is transferred; the transfer itself
        reads at most `max_bytes + 1` bytes in case the root block lies.

        Parameters:
            cid: the object's CIDv0.
            timeout: seconds the whole fetch may take; js-ipfs would otherwise wait forever
                for a CID that no connected peer has.
            max_bytes: the largest object accepted.

        Returns:
            The object's bytes.

        Raises:
            InvalidCid: if `cid` is not a CIDv0 (nothing is sent to the daemon).
            IpfsTimeout: if the object could not be fetched within `timeout` seconds.
            ObjectTooLarge: if the object has more than `max_bytes` bytes.
            IpfsRequestError: if the CID is not a file (e.g. a directory), or the daemon
                sends fewer bytes than the object's size.
            IpfsUnavailable: if the daemon cannot be reached.
        """
        valid = validate_cid(cid)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        deadline = time.monotonic() + timeout

        stat = self._call(
            "cat",
            valid,
            timeout,
            lambda: self._client.files.stat(
                f"/ipfs/{valid}",
                **_deadline_options(deadline, operation="cat", cid=valid, timeout=timeout),
            ),
        )
        kind = stat.get("Type")
        if kind != "file":
            raise IpfsRequestError(operation="cat", cid=valid, detail=f"it is a {kind}, not a file")
        size = int(stat["Size"])
        if size > max_bytes:
            raise ObjectTooLarge(kind="IPFS", limit=max_bytes, size=size, cid=valid)

        options = _deadline_options(deadline, operation="cat", cid=valid, timeout=timeout)
        options["opts"]["length"] = max_bytes + 1
        stream = self._call(
            "cat", valid, timeout, lambda: self._client.cat(valid, stream=True, **options)
        )
        received = bytearray()
        try:
            with stream:
                for chunk in stream:
                    received += chunk
                    if len(received) > max_bytes:
                        raise ObjectTooLarge(kind="IPFS", limit=max_bytes, size=None, cid=valid)
        except ipfs_exceptions.Error as error:
            raise self._translate(error, "cat", valid, timeout) from error
        except OSError as error:
            # requests' errors while reading the body (a broken or timed-out stream) are
            # OSErrors that ipfshttpclient does not wrap.
            if time.monotonic() >= deadline:
                raise IpfsTimeout(operation="cat", cid=valid, timeout=timeout) from error
            raise IpfsUnavailable(
                api=self.api, detail=f"transfer of {valid} broke: {error}"
            ) from error
        if len(received) != size:
            raise IpfsRequestError(
                operation="cat",
                cid=valid,
                detail=f"received {len(received)} bytes of an object of {size} bytes",
            )
        return bytes(received)

    def pin(self, cid: str, *, timeout: float) -> None:
        """Pins an object on this daemon, fetching it from connected peers if needed.

        Raises:
            InvalidCid: if `cid` is not a CIDv0.
            IpfsTimeout: if the object could not be fetched within `timeout` seconds.
            IpfsUnavailable, IpfsRequestError: if the daemon fails.
        """
        valid = validate_cid(cid)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        deadline = time.monotonic() + timeout
        response = self._call(
            "pin",
            valid,
            timeout,
            lambda: self._client.pin.add(
                valid, **_deadline_options(deadline, operation="pin", cid=valid, timeout=timeout)
            ),
        )
        if valid not in response.get("Pins", []):
            raise IpfsRequestError(
                operation="pin", cid=valid, detail=f"the daemon answered {response!r}"
            )

    def pins(self) -> frozenset[Cid]:
        """The CIDs pinned recursively on this daemon (what `add` and `pin` pin)."""
        response = self._call(
            "pin ls", None, self.request_timeout, lambda: self._client.pin.ls(type="recursive")
        )
        return frozenset(Cid(key) for key in response.get("Keys", {}))

    def identity(self) -> PeerIdentity:
        """This daemon's peer id and swarm addresses."""
        response = self._call("id", None, self.request_timeout, self._client.id)
        return PeerIdentity(
            peer_id=str(response["ID"]), addresses=tuple(str(a) for a in response["Addresses"])
        )

    def connect(self, multiaddr: str, *, timeout: float = 10.0) -> None:
        """Opens a swarm connection to a peer.

        Parameters:
            multiaddr: the peer's address with its id, e.g. "/ip4/127.0.0.1/tcp/4002/p2p/12D3...".
            timeout: seconds the daemon may take to connect.

        Raises:
            IpfsTimeout, IpfsRequestError, IpfsUnavailable: if the connection fails.
        """
        deadline = time.monotonic() + timeout
        # The HTTP client under ipfshttpclient's API, called directly because its
        # swarm.connect splits the address into characters.
        http = self._client._client
        response = self._call(
            "swarm connect",
            None,
            timeout,
            lambda: http.request(
                "/swarm/connect",
                (multiaddr,),
                decoder="json",
                **_deadline_options(deadline, operation="swarm connect", cid=None, timeout=timeout),
            ),
        )
        report = " ".join(" ".join(item.get("Strings", [])) for item in response)
        if "success" not in report:
            raise IpfsRequestError(
                operation="swarm connect", cid=None, detail=f"{multiaddr}: {report or response!r}"
            )

    def peers(self) -> frozenset[str]:
        """The peer ids this daemon has a swarm connection to."""
        response = self._call("swarm peers", None, self.request_timeout, self._client.swarm.peers)
        return frozenset(str(peer["Peer"]) for peer in response.get("Peers") or [])

    def _call(self, operation: str, cid: str | None, timeout: float, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ipfs_exceptions.Error as error:
            raise self._translate(error, operation, cid, timeout) from error

    def _translate(
        self, error: ipfs_exceptions.Error, operation: str, cid: str | None, timeout: float
    ) -> Exception:
        if isinstance(error, ipfs_exceptions.TimeoutError):
            return IpfsTimeout(operation=operation, cid=cid, timeout=timeout)
        if isinstance(error, ipfs_exceptions.ConnectionError):
            return IpfsUnavailable(api=self.api, detail=str(error))
        if isinstance(error, ipfs_exceptions.ErrorResponse) and "timed out" in str(error):
            # The daemon's own `timeout` option expired: "Failed to cat file: request timed out".
            return IpfsTimeout(operation=operation, cid=cid, timeout=timeout)
        return IpfsRequestError(operation=operation, cid=cid, detail=str(error))

    def _expect_cid(self, operation: str, value: object) -> Cid:
        if not isinstance(value, str) or not value.startswith("Qm"):
            raise IpfsRequestError(
                operation=operation, cid=None, detail=f"expected a CIDv0, the daemon gave {value!r}"
            )
        return validate_cid(value)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _deadline_options(
    deadline: float, *, operation: str, cid: str | None, timeout: float
) -> dict[str, Any]:
    """The daemon-side and socket timeouts for what is left of an operation's deadline.

    Raises:
        IpfsTimeout: if the deadline has passed already.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise IpfsTimeout(operation=operation, cid=cid, timeout=timeout)
    return {
        "opts": {"timeout": f"{max(1, int(remaining * 1000))}ms"},
        "timeout": remaining + SOCKET_GRACE_SECONDS,
    }
