"""Tests of the ipfs-nodes command: a real run stopped by Ctrl-C, and a failing start."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pysonar.ipfs.cli import EXIT_OK, EXIT_START_FAILED, main
from pysonar.ipfs.client import IpfsClient


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_it_prints_each_node_and_stops_them_all_on_sigint_even_if_started_ignoring_it(
    tmp_path: Path,
) -> None:
    # A process of its own, started the way a shell starts a background job: with SIGINT
    # ignored, which Python would keep unless the command sets its own handler.
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    command = [sys.executable, "-m", "pysonar.ipfs.cli", "--count", "2", "--json"]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        text=True,
        preexec_fn=ignore_sigint,
    ) as cli:
        try:
            assert cli.stdout is not None
            nodes = [json.loads(cli.stdout.readline()) for _ in range(2)]
            for node in nodes:
                with IpfsClient(node["api"]) as client:
                    assert client.identity().peer_id == node["peer_id"]
                    assert client.peers() == {n["peer_id"] for n in nodes} - {node["peer_id"]}
            cli.send_signal(signal.SIGINT)
            code = cli.wait(timeout=30)
        finally:
            if cli.poll() is None:
                cli.kill()
        assert cli.stderr is not None
        stderr = cli.stderr.read()
    assert code == EXIT_OK, stderr
    assert "2 IPFS node(s) running" in stderr
    for node in nodes:
        with pytest.raises(ProcessLookupError):
            os.kill(node["pid"], 0)
        assert not Path(node["repo"]).exists()


def test_it_exits_1_with_the_reason_when_js_ipfs_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "node_modules"
    code = main(["--count", "1", "--node-modules", str(missing)], wait=lambda nodes: None)
    assert code == EXIT_START_FAILED
    assert f"or node was not found; looked at: {missing}" in capsys.readouterr().err


def test_it_describes_each_node_in_human_readable_form() -> None:
    out = io.StringIO()
    seen = []
    code = main(["--count", "1", "--no-connect"], wait=seen.extend, out=out)
    assert code == EXIT_OK
    (node,) = seen
    assert out.getvalue().startswith(f"ipfs-0: API {node.api_url}  peer {node.peer_id}")
    with pytest.raises(ProcessLookupError):
        os.kill(node.pid, 0)


def test_it_refuses_a_count_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--count", "0"])
    assert raised.value.code == 2
    assert "--count must be at least 1" in capsys.readouterr().err
