"""Tests that the pytest fixture stops its daemons however the tests using it end."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Run by an inner pytest session: the first test records the nodes, the second fails.
INNER_TESTS = """
import json
import os

from pysonar.ipfs.fixtures import ipfs_nodes_fixture

ipfs_nodes = ipfs_nodes_fixture(count=1, scope="module", connect=False)


def test_records_the_node(ipfs_nodes):
    node = ipfs_nodes[0]
    with node.client() as client:
        assert client.identity().peer_id == node.peer_id
    record = {"pid": node.pid, "ports": list(node.ports), "repo": str(node.repo)}
    with open(os.environ["NODE_RECORD"], "w") as out:
        json.dump(record, out)


def test_fails_while_the_node_runs(ipfs_nodes):
    assert False, "this failure is the point of the test"
"""


def test_the_fixture_stops_its_daemons_after_a_failing_test(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_path = tmp_path / "node.json"
    monkeypatch.setenv("NODE_RECORD", str(record_path))
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    record = json.loads(record_path.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(record["pid"], 0)
    for port in record["ports"]:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # raises if a daemon still listens there
            probe.listen()
    assert not Path(record["repo"]).exists()
