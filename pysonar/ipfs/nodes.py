"""Starts, connects and stops local js-ipfs daemons: each with its own repo, all on 127.0.0.1.

This is how tests (see `pysonar.ipfs.fixtures`), demos and the `ipfs-nodes` CLI get IPFS
nodes without a network::

    with start_nodes(3) as nodes:          # started concurrently, connected pairwise
        a, b, c = nodes
        cid = a.client().add(b"...")
        b.client().cat(cid, timeout=10, max_bytes=1 << 20)
    # every daemon is stopped by its pid and every repo deleted, even after an exception

Each daemon is js-ipfs 0.66.1 (`jsipfs`, from npm; see `find_jsipfs`) configured offline:
no bootstrap peers, delegates, MDNS, WebRTC star, NAT port mapping, DHT or preload, and
every listener (API, Gateway, RPC, Swarm) on 127.0.0.1. Ports are port 0 in the config, so
the daemon binds a free port itself and reports it in its log: there is no window between
choosing a port and binding it in which a parallel test could take it.
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pysonar.ipfs.client import IpfsClient
from pysonar.ipfs.errors import (
    DaemonStartError,
    IpfsError,
    IpfsTimeout,
    IpfsUnavailable,
    JsIpfsNotFound,
)
from pysonar.ipfs.retry import RetryPolicy, call_with_retry

_LOG = logging.getLogger("pysonar.ipfs")

NODE_MODULES_ENV = "HYDROGEN_NODE_MODULES"
LOOPBACK = "127.0.0.1"
# Port 0: the kernel picks a free port when the daemon binds (see the module docstring).
_ANY_LOOPBACK_PORT = f"/ip4/{LOOPBACK}/tcp/0"
_LOG_TAIL_LINES = 40

# What js-ipfs 0.66.1 prints once each listener is bound, then once it is ready.
_API_LINE = "HTTP API listening on "
_GATEWAY_LINE = "Gateway (read only) listening on "
_RPC_LINE = "gRPC listening on "
_READY_LINE = "Daemon is ready"
_TCP_PORT = re.compile(r"^/ip4/(?P<host>[0-9.]+)/tcp/(?P<port>\d+)(?:/|$)")


@dataclass(frozen=True)
class IpfsNode:
    """A running daemon: where to reach it and what identifies it."""

    name: str
    pid: int
    peer_id: str
    repo: Path
    log_path: Path
    api_multiaddr: str
    """e.g. "/ip4/127.0.0.1/tcp/41234/http", what `IpfsClient` takes."""
    gateway_multiaddr: str
    rpc_multiaddr: str
    swarm_multiaddr: str
    """e.g. "/ip4/127.0.0.1/tcp/40001/p2p/12D3...", what `IpfsClient.connect` takes."""

    @property
    def api_url(self) -> str:
        """The API as an HTTP URL, e.g. "http://127.0.0.1:41234" (append /api/v0/...)."""
        return f"http://{LOOPBACK}:{_port(self.api_multiaddr)}"

    @property
    def gateway_url(self) -> str:
        """The read-only gateway, e.g. "http://127.0.0.1:41235" (append /ipfs/<cid>)."""
        return f"http://{LOOPBACK}:{_port(self.gateway_multiaddr)}"

    @property
    def ports(self) -> tuple[int, int, int, int]:
        """The TCP ports of the API, Gateway, RPC and Swarm listeners, in that order."""
        return (
            _port(self.api_multiaddr),
            _port(self.gateway_multiaddr),
            _port(self.rpc_multiaddr),
            _port(self.swarm_multiaddr),
        )

    def client(self, *, request_timeout: float = 30.0) -> IpfsClient:
        """A new client of this node's API (close it, or use it as a context manager)."""
        return IpfsClient(self.api_multiaddr, request_timeout=request_timeout)


@dataclass(frozen=True)
class _Daemon:
    """One process being started or running, with what is needed to stop and report it."""

    name: str
    repo: Path
    log_path: Path
    log_file: IO[bytes]
    process: subprocess.Popen[bytes]

    def log_tail(self) -> str:
        return _tail(self.log_path)


class LocalIpfsNodes:
    """Running daemons started by `start_nodes`; a context manager that stops them.

    Iterating, indexing and `len()` give the `IpfsNode` handles in start order.
    """

    def __init__(
        self,
        nodes: tuple[IpfsNode, ...],
        daemons: list[_Daemon],
        *,
        root: Path,
        stop_timeout: float,
    ) -> None:
        self.nodes = nodes
        self._daemons = daemons
        self._root = root
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
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Stops every daemon by its pid and deletes the repos; safe to call twice.

        SIGTERM first (js-ipfs then closes its repo cleanly, in about 2 s), SIGKILL for any
        daemon still running `stop_timeout` seconds later.
        """
        if self._stopped:
            return
        self._stopped = True
        _stop_daemons(self._daemons, self._stop_timeout)
        shutil.rmtree(self._root, ignore_errors=True)
        if self._root.exists():
            _LOG.warning("could not delete %s", self._root)


def find_jsipfs(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Finds the `jsipfs` executable.

    Looks, in order, at `explicit`, at `$HYDROGEN_NODE_MODULES/.bin/jsipfs` (set for tests by
    pants.toml), at `jsipfs` on PATH, and at `.bootstrap/node/node_modules/.bin/jsipfs`
    under the current directory (where ./pants installs it, and where `./pants run` runs).

    Raises:
        JsIpfsNotFound: naming every place it looked.
    """
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(Path(explicit))
    else:
        node_modules = os.environ.get(NODE_MODULES_ENV)
        if node_modules:
            candidates.append(Path(node_modules) / ".bin" / "jsipfs")
        on_path = shutil.which("jsipfs")
        if on_path:
            candidates.append(Path(on_path))
        candidates.append(Path.cwd() / ".bootstrap" / "node" / "node_modules" / ".bin" / "jsipfs")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    raise JsIpfsNotFound(tuple(str(c) for c in candidates) or ("$" + NODE_MODULES_ENV, "PATH"))


def offline_config(config: dict[str, Any]) -> dict[str, Any]:
    """Returns a js-ipfs repo config changed so that the daemon contacts nobody by itself.

    Every listener goes on 127.0.0.1 port 0; bootstrap peers, delegates, MDNS, WebRTC star,
    NAT port mapping and routing are switched off. Other settings are kept.
    """
    updated = json.loads(json.dumps(config))
    addresses = updated.setdefault("Addresses", {})
    addresses.update(
        API=_ANY_LOOPBACK_PORT,
        Gateway=_ANY_LOOPBACK_PORT,
        # The RPC (gRPC) default, 5003, would clash between nodes on one host.
        RPC=_ANY_LOOPBACK_PORT,
        Swarm=[_ANY_LOOPBACK_PORT],
        Announce=[],
        NoAnnounce=[],
        Delegates=[],
    )
    updated["Bootstrap"] = []
    discovery = updated.setdefault("Discovery", {})
    discovery.setdefault("MDNS", {})["Enabled"] = False
    discovery.setdefault("webRTCStar", {})["Enabled"] = False
    updated.setdefault("Swarm", {})["DisableNatPortMap"] = True
    updated["Routing"] = {"Type": "none"}
    return updated


def start_nodes(
    count: int,
    *,
    connect: bool = True,
    jsipfs: str | os.PathLike[str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    ready_timeout: float = 60.0,
    stop_timeout: float = 10.0,
    die_with_parent: bool = True,
) -> LocalIpfsNodes:
    """Starts `count` js-ipfs daemons concurrently and waits until every API answers.

    Parameters:
        count: how many nodes (at least 1).
        connect: open a swarm connection between every pair of nodes.
        jsipfs: the jsipfs executable; found by `find_jsipfs` if not given.
        base_dir: an existing directory to create the repos in (they are deleted on stop);
            a new temporary directory, deleted on stop, if not given.
        ready_timeout: seconds for initialising and starting all the daemons.
        stop_timeout: seconds each daemon gets to exit after SIGTERM before SIGKILL.
        die_with_parent: on Linux, have the kernel send SIGTERM to each daemon when the
            thread that started it exits, so that not even a SIGKILLed test run leaves
            daemons behind. Turn it off to start nodes from a thread that ends before them.

    Returns:
        The running nodes; stop them with `stop()` or by using the result in a `with`.

    Raises:
        JsIpfsNotFound: if jsipfs cannot be found.
        DaemonStartError: if a daemon fails to initialise, exits, or is not ready in time;
            everything started so far is stopped and deleted first.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    executable = find_jsipfs(jsipfs)
    began = time.monotonic()
    deadline = began + ready_timeout
    # A directory of our own even inside `base_dir`, so that stop deletes only what we made.
    root = Path(tempfile.mkdtemp(prefix="hydrogen-ipfs-", dir=base_dir))
    daemons: list[_Daemon] = []
    try:
        names = [f"ipfs-{index}" for index in range(count)]
        _init_repos(executable, root, names, deadline, die_with_parent)
        for name in names:
            daemons.append(_spawn_daemon(executable, root, name, die_with_parent))
        nodes = tuple(_wait_ready(daemon, deadline) for daemon in daemons)
        if connect:
            _connect_pairwise(nodes)
    except BaseException:
        # Also on Ctrl-C: nothing started here may outlive this call.
        _stop_daemons(daemons, stop_timeout)
        shutil.rmtree(root, ignore_errors=True)
        raise
    _LOG.info(
        "started %d IPFS node(s) in %.1f s: %s",
        count,
        time.monotonic() - began,
        ", ".join(f"{n.name} {n.api_url} pid {n.pid}" for n in nodes),
    )
    return LocalIpfsNodes(nodes, daemons, root=root, stop_timeout=stop_timeout)


def _init_repos(
    executable: Path, root: Path, names: list[str], deadline: float, die_with_parent: bool
) -> None:
    """Runs `jsipfs init` for every node at once, then makes each config offline."""
    running: list[tuple[str, Path, Path, IO[bytes], subprocess.Popen[bytes]]] = []
    try:
        for name in names:
            directory = root / name
            directory.mkdir()
            repo = directory / "repo"
            log_path = directory / "init.log"
            log_file = log_path.open("wb")
            process = _popen(
                [str(executable), "init", "--profile", "test", "-e"],
                repo=repo,
                log_file=log_file,
                die_with_parent=die_with_parent,
            )
            running.append((name, repo, log_path, log_file, process))
        for name, repo, log_path, log_file, process in running:
            try:
                code = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                raise DaemonStartError(
                    node=name,
                    reason="jsipfs init did not finish in time",
                    log_path=log_path,
                    log_tail=_tail(log_path),
                ) from None
            log_file.close()
            if code != 0:
                raise DaemonStartError(
                    node=name,
                    reason="jsipfs init failed",
                    log_path=log_path,
                    log_tail=_tail(log_path),
                    exit_code=code,
                )
            config_path = repo / "config"
            config = json.loads(config_path.read_text())
            config_path.write_text(json.dumps(offline_config(config), indent=2))
    finally:
        for _, _, _, log_file, process in running:
            if process.poll() is None:
                _stop_process(process, timeout=2.0)
            log_file.close()


def _spawn_daemon(executable: Path, root: Path, name: str, die_with_parent: bool) -> _Daemon:
    directory = root / name
    log_path = directory / "daemon.log"
    log_file = log_path.open("wb")
    # --no-enable-preload: preloading would announce every added CID to public nodes.
    process = _popen(
        [str(executable), "daemon", "--no-enable-preload"],
        repo=directory / "repo",
        log_file=log_file,
        die_with_parent=die_with_parent,
    )
    return _Daemon(
        name=name, repo=directory / "repo", log_path=log_path, log_file=log_file, process=process
    )


class _NotReady(Exception):
    """The daemon is still starting; the readiness probe retries this."""


def _wait_ready(daemon: _Daemon, deadline: float) -> IpfsNode:
    """Polls `daemon` until its log says it is ready and its API answers."""
    budget = deadline - time.monotonic()
    if budget <= 0:
        raise DaemonStartError(
            node=daemon.name,
            reason="no time was left to wait for the daemon",
            log_path=daemon.log_path,
            log_tail=daemon.log_tail(),
        )
    try:
        return call_with_retry(
            lambda: _probe(daemon),
            # Readiness takes seconds; polling every 0.05-0.5 s keeps the added latency small.
            policy=RetryPolicy(initial_delay=0.05, max_delay=0.5, max_time=budget),
            retry_on=(_NotReady, IpfsUnavailable, IpfsTimeout),
        )
    except (_NotReady, IpfsUnavailable, IpfsTimeout) as error:
        raise DaemonStartError(
            node=daemon.name,
            reason=f"not ready within the start timeout ({error})",
            log_path=daemon.log_path,
            log_tail=daemon.log_tail(),
        ) from error


def _probe(daemon: _Daemon) -> IpfsNode:
    """One readiness check: the node's handle, or _NotReady / DaemonStartError."""
    code = daemon.process.poll()
    if code is not None:
        raise DaemonStartError(
            node=daemon.name,
            reason="the daemon exited while starting",
            log_path=daemon.log_path,
            log_tail=daemon.log_tail(),
            exit_code=code,
        )
    log = daemon.log_path.read_text(errors="replace")
    if _READY_LINE not in log:
        raise _NotReady("the daemon has not logged that it is ready")
    api = _logged_address(daemon, log, _API_LINE)
    gateway = _logged_address(daemon, log, _GATEWAY_LINE)
    rpc = _logged_address(daemon, log, _RPC_LINE)
    with IpfsClient(api, request_timeout=2.0) as client:
        identity = client.identity()
    configured_id = json.loads((daemon.repo / "config").read_text())["Identity"]["PeerID"]
    swarm = [a for a in identity.addresses if _TCP_PORT.match(a) and "/p2p/" in a]
    if identity.peer_id != configured_id or not swarm:
        raise DaemonStartError(
            node=daemon.name,
            reason=(
                f"the API at {api} answered as {identity.peer_id} with addresses "
                f"{identity.addresses}; expected {configured_id} on a loopback TCP address"
            ),
            log_path=daemon.log_path,
            log_tail=daemon.log_tail(),
        )
    return IpfsNode(
        name=daemon.name,
        pid=daemon.process.pid,
        peer_id=identity.peer_id,
        repo=daemon.repo,
        log_path=daemon.log_path,
        api_multiaddr=api,
        gateway_multiaddr=gateway,
        rpc_multiaddr=rpc,
        swarm_multiaddr=swarm[0],
    )


def _logged_address(daemon: _Daemon, log: str, prefix: str) -> str:
    for line in log.splitlines():
        if line.startswith(prefix):
            address = line[len(prefix) :].strip()
            match = _TCP_PORT.match(address)
            if match is None or match["host"] != LOOPBACK:
                break
            return address
    raise DaemonStartError(
        node=daemon.name,
        reason=f"its log has no line {prefix!r} with a {LOOPBACK} TCP address",
        log_path=daemon.log_path,
        log_tail=daemon.log_tail(),
    )


def _connect_pairwise(nodes: tuple[IpfsNode, ...], *, timeout: float = 10.0) -> None:
    for index, node in enumerate(nodes):
        with node.client() as client:
            for peer in nodes[index + 1 :]:
                call_with_retry(
                    lambda peer=peer: client.connect(peer.swarm_multiaddr, timeout=timeout),
                    policy=RetryPolicy(initial_delay=0.1, max_tries=4, max_time=timeout),
                    retry_on=(IpfsError,),
                )


def _popen(
    command: list[str], *, repo: Path, log_file: IO[bytes], die_with_parent: bool
) -> subprocess.Popen[bytes]:
    environment = dict(os.environ, IPFS_PATH=str(repo))
    return subprocess.Popen(
        command,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        # Its own session: a Ctrl-C in the terminal reaches only us, and we stop the
        # daemons in order instead of having them die mid-write.
        start_new_session=True,
        preexec_fn=_parent_death_signal() if die_with_parent else None,
    )


@functools.cache
def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when its parent thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    term = int(signal.SIGTERM)

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, term, 0, 0, 0)

    return set_parent_death_signal


def _stop_daemons(daemons: list[_Daemon], timeout: float) -> None:
    """Stops the daemons concurrently: SIGTERM to all, then wait, then SIGKILL laggards."""
    _stop_processes([d.process for d in daemons], timeout)
    for daemon in daemons:
        daemon.log_file.close()


def _stop_process(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    _stop_processes([process], timeout)


def _stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            _LOG.warning("pid %d ignored SIGTERM for %.1f s; killing it", process.pid, timeout)
            process.kill()
            process.wait()


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def _port(multiaddr: str) -> int:
    match = _TCP_PORT.match(multiaddr)
    if match is None:
        raise ValueError(f"not a /ip4/.../tcp/... multiaddr: {multiaddr!r}")
    return int(match["port"])
