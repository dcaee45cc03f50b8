"""The exceptions of pysonar.ipfs: one root, `IpfsError`, and one subclass per failure.

`IpfsError` is a `PySonarError`. Each subclass is also the builtin exception its meaning
matches (a bad CID is a `ValueError`, a timeout a `TimeoutError`), so callers may catch
either, and each carries the values needed to debug it as attributes.
"""

from __future__ import annotations

from pysonar.errors import PySonarError
from sonar.supervisor import ProcessStartError


class IpfsError(PySonarError):
    """Root of every error raised by pysonar.ipfs (a too large object is `ObjectTooLarge`,
    from `pysonar.errors`, as it is wherever an object is refused for its size)."""


class InvalidCid(IpfsError, ValueError):
    """A string is not a CIDv0 ("Qm" + base58btc of a sha256 multihash)."""

    def __init__(self, cid: object, reason: str) -> None:
        super().__init__(f"not a CIDv0: {cid!r}: {reason}")
        self.cid = cid
        self.reason = reason


class InvalidDigest(IpfsError, ValueError):
    """A value is not a 32-byte sha256 digest, so it cannot become a CIDv0."""

    def __init__(self, digest: object, reason: str) -> None:
        super().__init__(f"not a 32-byte sha256 digest: {digest!r}: {reason}")
        self.digest = digest
        self.reason = reason


class InvalidApiAddress(IpfsError, ValueError):
    """The address given for a daemon's HTTP API is not a multiaddr ipfshttpclient accepts."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"not an IPFS API multiaddr: {address!r}: {reason}")
        self.address = address
        self.reason = reason


class IpfsTimeout(IpfsError, TimeoutError):
    """A daemon did not finish an operation in time (e.g. no connected peer has the CID)."""

    def __init__(self, *, operation: str, cid: str | None, timeout: float) -> None:
        about = f" of {cid}" if cid else ""
        super().__init__(
            f"IPFS {operation}{about} did not finish within {timeout:g} s"
            + (" (is the object on a connected peer?)" if cid else "")
        )
        self.operation = operation
        self.cid = cid
        self.timeout = timeout


class IpfsUnavailable(IpfsError, ConnectionError):
    """The daemon's HTTP API cannot be reached, or the connection broke."""

    def __init__(self, *, api: str, detail: str) -> None:
        super().__init__(f"IPFS API {api} unreachable: {detail}")
        self.api = api
        self.detail = detail


class IpfsRequestError(IpfsError):
    """The daemon answered an operation with an error, or with something this code refuses."""

    def __init__(self, *, operation: str, cid: str | None, detail: str) -> None:
        about = f" of {cid}" if cid else ""
        super().__init__(f"IPFS {operation}{about} failed: {detail}")
        self.operation = operation
        self.cid = cid
        self.detail = detail


class JsIpfsNotFound(IpfsError, FileNotFoundError):
    """js-ipfs's packages, or the `node` executable, are not where the node manager looked."""

    def __init__(self, searched: tuple[str, ...]) -> None:
        super().__init__(
            "js-ipfs (npm ipfs 0.66.1: ipfs-core, ipfs-http-server) or node was not found; "
            "looked at: "
            + ", ".join(searched)
            + ". Run ./pants once to bootstrap it, or set HYDROGEN_NODE_MODULES."
        )
        self.searched = searched


class DaemonStartError(IpfsError, ProcessStartError):
    """The IPFS host process failed to start its nodes; carries the tail of its log.

    It is the supervisor's `ProcessStartError` (name, reason, log_path, log_tail,
    exit_code), raised as an `IpfsError`.
    """
