"""Local js-ipfs nodes, many hosted in one supervised Node.js process, each with its own repo.

This is how tests (see `pysonar.ipfs.fixtures`), the demo platform and the `ipfs-nodes` CLI
get IPFS nodes without a network::

    with start_nodes(3) as nodes:          # one host process, three nodes, connected pairwise
        a, b, c = nodes
        cid = a.client().add(b"...")
        b.client().cat(cid, timeout=10, max_bytes=1 << 20)
    # the host is stopped by its pid and every repo deleted, even after an exception

Each node is js-ipfs 0.66.1 (`ipfs-core`, served by `ipfs-http-server`, both from the
bootstrapped node_modules) with its own repo, Ed25519 identity, HTTP API and swarm
listener, so each mine still talks to a node of its own. `ipfs_host.mjs` runs them: loading
js-ipfs's modules once for all nodes is what makes starting 11 nodes take about 1.5 s
instead of the 51 s that 11 `jsipfs daemon` processes took here (each paid about 2 s of
module loading for `jsipfs init` and again for `jsipfs daemon`). Nodes are offline: no
bootstrap peers, delegates, MDNS, WebRTC star, NAT mapping, DHT or preload, every listener
on 127.0.0.1; port 0 lets the kernel choose, so there is no window between choosing a port
and binding it. A node keeps dialling the peers it is given (sibling names or swarm
multiaddrs), so a restarted peer is found again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType

from pysonar.ipfs.client import IpfsClient
from pysonar.ipfs.errors import DaemonStartError, JsIpfsNotFound
from sonar.supervisor import ProcessStartError, SupervisedProcess

_LOG = logging.getLogger("pysonar.ipfs")

NODE_MODULES_ENV = "HYDROGEN_NODE_MODULES"
LOOPBACK = "127.0.0.1"
HOST_SCRIPT = "ipfs_host.mjs"
# Packages the host script imports from node_modules.
_HOST_PACKAGES = ("ipfs-core", "ipfs-http-server", "@multiformats/multiaddr")
REDIAL_SECONDS = 2.0


@dataclass(frozen=True)
class NodeSpec:
    """One node for the host to run.

    Attributes:
        name: unique within the host ("ipfs-0").
        repo: its repo directory; created and initialised if new, reused (same identity,
            same pinned objects) if it exists.
        api_port: its HTTP API's port on 127.0.0.1; 0 for any free port.
        swarm_port: its swarm listener's port on 127.0.0.1; 0 for any free port.
        peers: sibling node names or swarm multiaddrs ("/ip4/.../tcp/.../p2p/12D3...") to
            connect to and to dial again whenever the connection is lost.
    """

    name: str
    repo: Path
    api_port: int = 0
    swarm_port: int = 0
    peers: tuple[str, ...] = ()


@dataclass(frozen=True)
class IpfsNode:
    """A running node: where to reach it and what identifies it."""

    name: str
    pid: int
    """The pid of the host process serving it (shared by the host's nodes)."""
    peer_id: str
    repo: Path
    api_multiaddr: str
    """e.g. "/ip4/127.0.0.1/tcp/41234/http", what `IpfsClient` takes."""
    swarm_multiaddr: str
    """e.g. "/ip4/127.0.0.1/tcp/40001/p2p/12D3...", what `IpfsClient.connect` takes."""

    @property
    def api_url(self) -> str:
        """The API as an HTTP URL, e.g. "http://127.0.0.1:41234" (append /api/v0/...)."""
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def api_port(self) -> int:
        return _port(self.api_multiaddr)

    @property
    def swarm_port(self) -> int:
        return _port(self.swarm_multiaddr)

    @property
    def ports(self) -> tuple[int, int]:
        """The TCP ports of its API and swarm listeners."""
        return (self.api_port, self.swarm_port)

    def client(self, *, request_timeout: float = 30.0) -> IpfsClient:
        """A new client of this node's API (close it, or use it as a context manager)."""
        return IpfsClient(self.api_multiaddr, request_timeout=request_timeout)


class LocalIpfsNodes:
    """The nodes of one running host process; a context manager that stops them.

    Iterating, indexing and `len()` give the `IpfsNode` handles in the order of the specs.
    """

    def __init__(
        self,
        nodes: tuple[IpfsNode, ...],
        host: SupervisedProcess,
        *,
        root: Path,
        delete_root: bool,
        stop_timeout: float,
        started_in: float,
    ) -> None:
        self.nodes = nodes
        self.host = host
        self.root = root
        self.started_in = started_in
        """Seconds from starting the host process to every node being ready."""
        self._delete_root = delete_root
        self._stop_timeout = stop_timeout
        self._stopped = False

    def __enter__(self) -> LocalIpfsNodes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __iter__(self) -> Iterator[IpfsNode]:
        return iter(self.nodes)

    def __getitem__(self, index: int) -> IpfsNode:
        return self.nodes[index]

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def pid(self) -> int:
        """The host process's pid."""
        return self.host.pid

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Stops the host by its pid (every node closes its repo) and deletes the repos if
        they were created here; safe to call twice.

        SIGTERM first (the host stops each node cleanly, in well under a second), SIGKILL if
        it is still running `stop_timeout` seconds later.
        """
        if self._stopped:
            return
        self._stopped = True
        self.host.stop(self._stop_timeout)
        if self._delete_root:
            shutil.rmtree(self.root, ignore_errors=True)
            if self.root.exists():
                _LOG.warning("could not delete %s", self.root)


def find_node_modules(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Finds the node_modules holding js-ipfs (ipfs-core and ipfs-http-server).

    Looks, in order, at `explicit`, at `$HYDROGEN_NODE_MODULES` (set for tests by
    pants.toml), and at `.bootstrap/node/node_modules` under the current directory (where
    ./pants installs it, and where `./pants run` runs).

    Raises:
        JsIpfsNotFound: naming every place it looked.
    """
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(Path(explicit))
    else:
        if os.environ.get(NODE_MODULES_ENV):
            candidates.append(Path(os.environ[NODE_MODULES_ENV]))
        candidates.append(Path.cwd() / ".bootstrap" / "node" / "node_modules")
    for candidate in candidates:
        if all((candidate / package / "package.json").is_file() for package in _HOST_PACKAGES):
            return candidate.absolute()
    raise JsIpfsNotFound(tuple(str(c) for c in candidates))


def find_node() -> Path:
    """Finds the `node` executable on PATH.

    Raises:
        JsIpfsNotFound: it is not on PATH.
    """
    found = shutil.which("node")
    if found is None:
        raise JsIpfsNotFound(("node on PATH",))
    return Path(found)


def start_host(
    specs: Sequence[NodeSpec],
    *,
    root: Path,
    delete_root: bool = False,
    node_modules: str | os.PathLike[str] | None = None,
    ready_timeout: float = 60.0,
    stop_timeout: float = 10.0,
    die_with_parent: bool = True,
) -> LocalIpfsNodes:
    """Starts one host process running the nodes of `specs`, and waits until all are ready.

    Parameters:
        specs: the nodes, with distinct names.
        root: an existing directory for the host's script, configuration and log.
        delete_root: delete `root` (and the repos, if inside it) when the host stops, or
            fails to start.
        node_modules: where js-ipfs is; found by `find_node_modules` if not given.
        ready_timeout: seconds for every node to be ready.
        stop_timeout: seconds the host gets to exit after SIGTERM before SIGKILL.
        die_with_parent: on Linux, have the kernel SIGTERM the host when the thread that
            started it exits (see `sonar.supervisor`).

    Returns:
        The running nodes; stop them with `stop()` or by using the result in a `with`.

    Raises:
        JsIpfsNotFound: node or js-ipfs cannot be found.
        DaemonStartError: the host exited or a node was not ready in time (the host is
            stopped first), with the last lines of its log.
    """
    names = [spec.name for spec in specs]
    if not specs or len(set(names)) != len(names):
        raise ValueError(f"need at least one node and distinct names, not {names}")
    modules = find_node_modules(node_modules)
    node = find_node()
    script = root / HOST_SCRIPT
    script.write_bytes(resources.files(__package__).joinpath(HOST_SCRIPT).read_bytes())
    config = root / "ipfs-host.json"
    config.write_text(json.dumps(_host_config(specs, modules), indent=2))
    began = time.monotonic()
    host = SupervisedProcess.start(
        "IPFS host",
        [str(node), str(script), str(config)],
        log_path=root / "ipfs-host.log",
        die_with_parent=die_with_parent,
    )
    try:
        ready = host.wait_ready(_ready_nodes, timeout=ready_timeout)
    except BaseException as error:
        # Also on Ctrl-C: nothing started here may outlive this call.
        host.stop(stop_timeout)
        if delete_root:
            shutil.rmtree(root, ignore_errors=True)
        if isinstance(error, ProcessStartError):
            raise DaemonStartError(
                name=error.name,
                reason=error.reason,
                log_path=error.log_path,
                log_tail=error.log_tail,
                exit_code=error.exit_code,
            ) from error
        raise
    by_name = {event["name"]: event for event in ready}
    nodes = tuple(
        IpfsNode(
            name=spec.name,
            pid=host.pid,
            peer_id=by_name[spec.name]["peer_id"],
            repo=spec.repo,
            api_multiaddr=by_name[spec.name]["api"],
            swarm_multiaddr=by_name[spec.name]["swarm"],
        )
        for spec in specs
    )
    started_in = time.monotonic() - began
    _LOG.info(
        "started %d IPFS node(s) in %.1f s (host pid %d): %s",
        len(nodes),
        started_in,
        host.pid,
        ", ".join(f"{n.name} {n.api_url}" for n in nodes),
    )
    return LocalIpfsNodes(
        nodes,
        host,
        root=root,
        delete_root=delete_root,
        stop_timeout=stop_timeout,
        started_in=started_in,
    )


def start_nodes(
    count: int,
    *,
    connect: bool = True,
    node_modules: str | os.PathLike[str] | None = None,
    ready_timeout: float = 60.0,
    stop_timeout: float = 10.0,
    die_with_parent: bool = True,
) -> LocalIpfsNodes:
    """Starts `count` nodes named ipfs-0, ipfs-1, ... in one host, in a temporary directory.

    Parameters:
        count: how many nodes (at least 1).
        connect: keep every pair of nodes connected.
        node_modules, ready_timeout, stop_timeout, die_with_parent: see `start_host`.

    Returns:
        The running nodes; stopping them deletes their repos.

    Raises:
        JsIpfsNotFound, DaemonStartError: see `start_host`.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    root = Path(tempfile.mkdtemp(prefix="hydrogen-ipfs-"))
    names = [f"ipfs-{index}" for index in range(count)]
    specs = [
        NodeSpec(
            name=name,
            repo=root / name,
            peers=tuple(other for other in names[:index]) if connect else (),
        )
        for index, name in enumerate(names)
    ]
    return start_host(
        specs,
        root=root,
        delete_root=True,
        node_modules=node_modules,
        ready_timeout=ready_timeout,
        stop_timeout=stop_timeout,
        die_with_parent=die_with_parent,
    )


def _host_config(specs: Sequence[NodeSpec], node_modules: Path) -> dict[str, object]:
    return {
        "node_modules": str(node_modules),
        "redial_seconds": REDIAL_SECONDS,
        "nodes": [
            {
                "name": spec.name,
                "repo": str(spec.repo.absolute()),
                "api": f"/ip4/{LOOPBACK}/tcp/{spec.api_port}",
                "swarm": f"/ip4/{LOOPBACK}/tcp/{spec.swarm_port}",
                "peers": list(spec.peers),
            }
            for spec in specs
        ],
    }


def _ready_nodes(log: str) -> list[dict[str, str]] | None:
    """The host's node-ready events once it has logged that all are ready, else None.

    A host that fails logs {"event": "failed", ...} and exits 1, which the supervisor reports.
    """
    # Only the host's own lines: Node may print warnings of its own in between.
    events = [json.loads(line) for line in log.splitlines() if line.startswith('{"event":')]
    if not any(event["event"] == "ready" for event in events):
        return None
    return [event for event in events if event["event"] == "node-ready"]


def _port(multiaddr: str) -> int:
    parts = multiaddr.split("/")
    if len(parts) < 5 or parts[1] != "ip4" or parts[3] != "tcp":
        raise ValueError(f"not a /ip4/.../tcp/... multiaddr: {multiaddr!r}")
    return int(parts[4])
