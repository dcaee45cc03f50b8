"""Tests of the node manager: real js-ipfs daemons, plus stand-in scripts for broken starts."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
import urllib.request
from pathlib import Path

import pytest

from pysonar.ipfs.errors import DaemonStartError, IpfsError, JsIpfsNotFound
from pysonar.ipfs.fixtures import ipfs_nodes_fixture
from pysonar.ipfs.nodes import (
    NODE_MODULES_ENV,
    IpfsNode,
    LocalIpfsNodes,
    find_jsipfs,
    offline_config,
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
        assert pid_is_gone(node.pid), f"{node.name} pid {node.pid} still runs"
        for port in node.ports:
            assert port_is_free(port), f"{node.name}'s port {port} is still taken"
        assert not node.repo.exists()


# --- running nodes ------------------------------------------------------------------------


def test_each_node_has_its_own_repo_pid_peer_id_and_distinct_loopback_ports(
    trio: LocalIpfsNodes,
) -> None:
    assert len(trio) == 3
    assert len({node.repo for node in trio}) == 3
    assert len({node.pid for node in trio}) == 3
    assert len({node.peer_id for node in trio}) == 3
    ports = [port for node in trio for port in node.ports]
    assert len(set(ports)) == 12
    for node in trio:
        assert node.api_multiaddr.startswith("/ip4/127.0.0.1/tcp/")
        assert node.api_url == f"http://127.0.0.1:{node.ports[0]}"
        assert node.swarm_multiaddr.endswith(f"/p2p/{node.peer_id}")
        assert (node.repo / "config").is_file()
        assert set(node.ports) <= listening_ports()


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
        for key in ("API", "Gateway", "RPC"):
            assert config["Addresses"][key] == "/ip4/127.0.0.1/tcp/0"
        assert config["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]


def test_daemons_listen_and_connect_only_on_127_0_0_1(trio: LocalIpfsNodes) -> None:
    # Move some content first so that the swarm connections are in use.
    with trio[0].client() as first, trio[2].client() as last:
        cid = first.add(os.urandom(1000))
        last.cat(cid, timeout=20, max_bytes=1000)
    for node in trio:
        held = sockets_of(node.pid)
        assert sum(1 for entry in held if entry["listening"]) == 4  # API, Gateway, RPC, Swarm
        assert any(not entry["listening"] for entry in held), "no swarm connection seen"
        for entry in held:
            assert entry["local"][0] == "127.0.0.1", entry  # type: ignore[index]
            if not entry["listening"]:
                assert entry["remote"][0] == "127.0.0.1", entry  # type: ignore[index]


def test_the_gateway_url_serves_added_content(trio: LocalIpfsNodes) -> None:
    data = os.urandom(500)
    with trio[0].client() as client:
        cid = client.add(data)
    with urllib.request.urlopen(f"{trio[1].gateway_url}/ipfs/{cid}", timeout=20) as response:
        assert response.read() == data


# --- stopping -----------------------------------------------------------------------------


def test_stop_kills_every_daemon_frees_its_ports_and_deletes_its_repos(tmp_path: Path) -> None:
    nodes = start_nodes(1, base_dir=tmp_path)
    handles = nodes.nodes
    assert not any(pid_is_gone(node.pid) for node in handles)
    nodes.stop()
    assert nodes.stopped
    assert_stopped(handles)
    assert list(tmp_path.iterdir()) == []
    nodes.stop()  # a second stop is harmless


def test_an_exception_in_the_with_body_still_stops_every_daemon() -> None:
    seen: list[IpfsNode] = []
    with pytest.raises(RuntimeError, match="test body failed"), start_nodes(1) as nodes:
        seen.extend(nodes)
        raise RuntimeError("test body failed")
    assert len(seen) == 1
    assert_stopped(tuple(seen))


# --- starts that fail, with stand-ins for jsipfs -------------------------------------------


def stand_in_jsipfs(directory: Path, daemon_body: str) -> Path:
    """A jsipfs that inits a minimal repo and runs `daemon_body` (bash) as its daemon."""
    script = directory / "jsipfs"
    script.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = init ]; then\n'
        '  mkdir -p "$IPFS_PATH"\n'
        '  echo \'{"Identity": {"PeerID": "stand-in"}}\' > "$IPFS_PATH/config"\n'
        "  exit 0\n"
        "fi\n"
        'if [ -n "$STAND_IN_PIDS" ]; then echo $$ > "$STAND_IN_PIDS/$$"; fi\n'
        f"{daemon_body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_a_failing_init_raises_daemon_start_error_with_the_log_tail(tmp_path: Path) -> None:
    script = tmp_path / "jsipfs"
    script.write_text("#!/usr/bin/env bash\necho 'Error: repo locked' >&2\nexit 7\n")
    script.chmod(0o755)
    base = tmp_path / "nodes"
    base.mkdir()
    with pytest.raises(DaemonStartError) as raised:
        start_nodes(2, jsipfs=script, base_dir=base)
    error = raised.value
    assert error.reason == "jsipfs init failed"
    assert error.exit_code == 7
    assert "Error: repo locked" in error.log_tail
    assert "Error: repo locked" in str(error)
    assert list(base.iterdir()) == []


def test_a_daemon_that_exits_while_starting_raises_with_its_exit_code_and_log(
    tmp_path: Path,
) -> None:
    script = stand_in_jsipfs(tmp_path, "echo 'Error: listen EADDRINUSE 127.0.0.1:5003'\nexit 3")
    base = tmp_path / "nodes"
    base.mkdir()
    with pytest.raises(DaemonStartError) as raised:
        start_nodes(1, jsipfs=script, base_dir=base, ready_timeout=20)
    assert raised.value.exit_code == 3
    assert "EADDRINUSE" in raised.value.log_tail
    assert raised.value.node == "ipfs-0"
    assert list(base.iterdir()) == []


def test_a_daemon_never_ready_times_out_and_is_killed_even_if_it_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ignores SIGTERM, so only the SIGKILL after stop_timeout ends it.
    script = stand_in_jsipfs(
        tmp_path, "trap '' TERM\necho 'Initializing IPFS daemon...'\nwhile :; do sleep 0.1; done"
    )
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    monkeypatch.setenv("STAND_IN_PIDS", str(pid_dir))
    base = tmp_path / "nodes"
    base.mkdir()
    began = time.monotonic()
    with pytest.raises(DaemonStartError) as raised:
        start_nodes(2, jsipfs=script, base_dir=base, ready_timeout=1.5, stop_timeout=0.5)
    elapsed = time.monotonic() - began
    assert "not ready within the start timeout" in raised.value.reason
    assert "Initializing IPFS daemon..." in raised.value.log_tail
    assert elapsed < 1.5 + 0.5 + 3
    assert list(base.iterdir()) == []
    pids = [int(path.name) for path in pid_dir.iterdir()]
    assert len(pids) == 2
    assert all(pid_is_gone(pid) for pid in pids)


def test_missing_jsipfs_is_reported_with_every_place_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NODE_MODULES_ENV, str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(JsIpfsNotFound) as raised:
        find_jsipfs()
    assert str(tmp_path / "nowhere" / ".bin" / "jsipfs") in raised.value.searched
    assert isinstance(raised.value, FileNotFoundError)
    assert isinstance(raised.value, IpfsError)
    with pytest.raises(JsIpfsNotFound):
        start_nodes(1, jsipfs=tmp_path / "jsipfs")


def test_find_jsipfs_uses_the_bootstrapped_node_modules() -> None:
    found = find_jsipfs()
    assert found == Path(os.environ[NODE_MODULES_ENV], ".bin", "jsipfs").absolute()


def test_start_nodes_refuses_a_count_below_one() -> None:
    with pytest.raises(ValueError):
        start_nodes(0)


def test_offline_config_keeps_identity_and_replaces_every_address() -> None:
    config = {
        "Identity": {"PeerID": "12D3KooW"},
        "Addresses": {"API": "/ip4/0.0.0.0/tcp/5002", "Swarm": ["/ip4/0.0.0.0/tcp/4002"]},
        "Bootstrap": ["/dnsaddr/bootstrap.libp2p.io/p2p/Qm"],
        "Routing": {"Type": "dhtclient"},
    }
    updated = offline_config(config)
    assert updated["Identity"] == {"PeerID": "12D3KooW"}
    assert updated["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]
    assert updated["Bootstrap"] == []
    assert config["Bootstrap"] == ["/dnsaddr/bootstrap.libp2p.io/p2p/Qm"], "input unchanged"
