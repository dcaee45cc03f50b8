"""Tests of the node manager: a real host of js-ipfs nodes, and stand-in packages for bad starts."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from pysonar.ipfs.errors import DaemonStartError, IpfsError, JsIpfsNotFound
from pysonar.ipfs.fixtures import ipfs_nodes_fixture
from pysonar.ipfs.nodes import (
    NODE_MODULES_ENV,
    IpfsNode,
    LocalIpfsNodes,
    NodeSpec,
    find_node_modules,
    start_host,
    start_nodes,
)

trio = ipfs_nodes_fixture(count=3, scope="module")


# --- what /proc says about sockets -------------------------------------------------------


def _decode_address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # IPv6: four little-endian 32-bit words
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        ip = socket.inet_ntop(socket.AF_INET6, words)
    return ip, int(port, 16)


def _proc_net() -> list[dict[str, object]]:
    entries = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            entries.append(
                {
                    "table": table,
                    "local": _decode_address(fields[1]),
                    "remote": _decode_address(fields[2]),
                    "listening": fields[3] == "0A",
                    "inode": fields[9],
                }
            )
    return entries


def sockets_of(pid: int) -> list[dict[str, object]]:
    """Every TCP/UDP socket the process holds open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return [entry for entry in _proc_net() if entry["inode"] in inodes]


def listening_ports() -> set[int]:
    return {entry["local"][1] for entry in _proc_net() if entry["listening"]}  # type: ignore[index]


def port_is_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port (TIME_WAIT leftovers do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def pid_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def assert_stopped(nodes: tuple[IpfsNode, ...]) -> None:
    for node in nodes:
        assert pid_is_gone(node.pid), f"{node.name}'s host, pid {node.pid}, still runs"
        for port in node.ports:
            assert port_is_free(port), f"{node.name}'s port {port} is still taken"
        assert not node.repo.exists()


# --- running nodes ------------------------------------------------------------------------


def test_each_node_has_its_own_repo_peer_id_and_loopback_ports_in_one_host_process(
    trio: LocalIpfsNodes,
) -> None:
    assert len(trio) == 3
    assert len({node.repo for node in trio}) == 3
    assert {node.pid for node in trio} == {trio.pid}
    assert len({node.peer_id for node in trio}) == 3
    ports = [port for node in trio for port in node.ports]
    assert len(set(ports)) == 6
    for node in trio:
        assert node.api_multiaddr.startswith("/ip4/127.0.0.1/tcp/")
        assert node.api_url == f"http://127.0.0.1:{node.ports[0]}"
        assert node.swarm_multiaddr.endswith(f"/p2p/{node.peer_id}")
        assert (node.repo / "config").is_file()
        assert set(node.ports) <= listening_ports()
        with node.client() as client:
            assert client.identity().peer_id == node.peer_id


def test_every_pair_of_nodes_is_connected(trio: LocalIpfsNodes) -> None:
    for node in trio:
        with node.client() as client:
            assert client.peers() == {other.peer_id for other in trio if other is not node}


def test_each_repo_is_configured_to_contact_nobody_by_itself(trio: LocalIpfsNodes) -> None:
    for node in trio:
        config = json.loads((node.repo / "config").read_text())
        assert config["Bootstrap"] == []
        assert config["Addresses"]["Delegates"] == []
        assert config["Discovery"]["MDNS"]["Enabled"] is False
        assert config["Discovery"]["webRTCStar"]["Enabled"] is False
        assert config["Swarm"]["DisableNatPortMap"] is True
        assert config["Routing"] == {"Type": "none"}
        assert config["Addresses"]["API"] == "/ip4/127.0.0.1/tcp/0"
        assert config["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]
        assert config["Addresses"]["Gateway"] == config["Addresses"]["RPC"] == ""
        assert config["Identity"]["PrivKey"], "an identity of its own"


def test_the_host_listens_and_connects_only_on_127_0_0_1(trio: LocalIpfsNodes) -> None:
    # Move some content first so that the swarm connections are in use.
    with trio[0].client() as first, trio[2].client() as last:
        cid = first.add(os.urandom(1000))
        last.cat(cid, timeout=20, max_bytes=1000)
    held = sockets_of(trio.pid)
    assert sum(1 for entry in held if entry["listening"]) == 2 * len(trio)  # API, swarm
    assert any(not entry["listening"] for entry in held), "no swarm connection seen"
    for entry in held:
        assert entry["local"][0] == "127.0.0.1", entry  # type: ignore[index]
        if not entry["listening"]:
            assert entry["remote"][0] == "127.0.0.1", entry  # type: ignore[index]


def test_a_restarted_node_keeps_its_identity_and_content_and_its_peer_dials_it_again(
    tmp_path: Path,
) -> None:
    with start_nodes(1) as hub:
        spec = NodeSpec(name="leaf", repo=tmp_path / "leaf", peers=(hub[0].swarm_multiaddr,))
        host_dir = tmp_path / "host"
        host_dir.mkdir()
        with start_host([spec], root=host_dir) as first:
            leaf = first[0]
            with leaf.client() as client:
                cid = client.add(b"kept across restarts")
            with hub[0].client() as client:
                assert leaf.peer_id in client.peers()
        assert pid_is_gone(leaf.pid)
        same_ports = NodeSpec(
            name="leaf",
            repo=spec.repo,
            api_port=leaf.api_port,
            swarm_port=leaf.swarm_port,
            peers=spec.peers,
        )
        with start_host([same_ports], root=host_dir) as second:
            assert (second[0].peer_id, second[0].api_multiaddr) == (
                leaf.peer_id,
                leaf.api_multiaddr,
            )
            with hub[0].client() as client:
                assert client.cat(cid, timeout=20, max_bytes=100) == b"kept across restarts"


# --- stopping -----------------------------------------------------------------------------


def test_stop_ends_the_host_frees_its_ports_and_deletes_its_repos() -> None:
    nodes = start_nodes(2)
    handles = nodes.nodes
    assert not pid_is_gone(nodes.pid)
    nodes.stop()
    assert nodes.stopped
    assert_stopped(handles)
    assert not nodes.root.exists()
    nodes.stop()  # a second stop is harmless


def test_an_exception_in_the_with_body_still_stops_the_host() -> None:
    seen: list[IpfsNode] = []
    with pytest.raises(RuntimeError, match="test body failed"), start_nodes(1) as nodes:
        seen.extend(nodes)
        raise RuntimeError("test body failed")
    assert len(seen) == 1
    assert_stopped(tuple(seen))


# --- starts that fail, with stand-in packages for js-ipfs -----------------------------------


def stand_in_node_modules(directory: Path, ipfs_core_source: str) -> Path:
    """A node_modules whose ipfs-core is `ipfs_core_source`; the other packages are stubs."""
    modules = directory / "node_modules"
    for package, source in (
        ("ipfs-core", ipfs_core_source),
        ("ipfs-http-server", "export class HttpApi {}\n"),
        ("@multiformats/multiaddr", "export const multiaddr = (text) => text\n"),
    ):
        root = modules / package
        root.mkdir(parents=True)
        manifest = {"name": package, "type": "module", "exports": {".": {"import": "./index.js"}}}
        (root / "package.json").write_text(json.dumps(manifest))
        (root / "index.js").write_text(source)
    return modules


def test_a_host_whose_nodes_fail_raises_daemon_start_error_with_the_reason(
    tmp_path: Path,
) -> None:
    modules = stand_in_node_modules(
        tmp_path, "export async function create () { throw new Error('repo locked') }\n"
    )
    with pytest.raises(DaemonStartError) as raised:
        start_nodes(2, node_modules=modules)
    error = raised.value
    assert error.exit_code == 1
    assert "Error: repo locked" in error.log_tail
    assert "repo locked" in str(error)
    assert isinstance(error, IpfsError)


def test_a_host_never_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    # A create() that never settles, with a timer keeping Node's event loop alive (else
    # Node exits 13 on an unsettled top-level await).
    modules = stand_in_node_modules(
        tmp_path,
        "export function create () { setInterval(() => {}, 1000); return new Promise(() => {}) }\n",
    )
    began = time.monotonic()
    with pytest.raises(DaemonStartError) as raised:
        start_nodes(1, node_modules=modules, ready_timeout=1.5, stop_timeout=2)
    assert raised.value.reason == "was not ready within 1.5 s"
    assert time.monotonic() - began < 1.5 + 2 + 3
    assert raised.value.exit_code is None


def test_missing_js_ipfs_is_reported_with_every_place_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NODE_MODULES_ENV, str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(JsIpfsNotFound) as raised:
        find_node_modules()
    assert str(tmp_path / "nowhere") in raised.value.searched
    assert isinstance(raised.value, FileNotFoundError)
    assert isinstance(raised.value, IpfsError)
    with pytest.raises(JsIpfsNotFound):
        start_nodes(1, node_modules=tmp_path / "nowhere")


def test_find_node_modules_uses_the_bootstrapped_node_modules() -> None:
    assert find_node_modules() == Path(os.environ[NODE_MODULES_ENV]).absolute()


def test_start_nodes_refuses_a_count_below_one() -> None:
    with pytest.raises(ValueError):
        start_nodes(0)
