"""The mine process: it waits out an unreachable chain, says so, and stops when asked."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mine.cli import EXIT_FAILED, EXIT_STOPPED, check_health, main
from mine.status import Status, StatusFile
from pysonar import diabetes
from pysonar.rows import write_csv
from sonar.chain import dev_accounts
from sonar.supervisor import python_environment


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def arguments(tmp_path: Path) -> list[str]:
    key = tmp_path / "mine.key"
    key.write_text(dev_accounts()[1].private_key)  # a well-known development key
    key.chmod(0o600)
    shard = diabetes.split(diabetes.load(), validation_rows=0, shard_rows=[30], seed=2).shards[0]
    write_csv(shard, tmp_path / "shard.csv", diabetes.FEATURE_NAMES)
    return [
        "--rpc-url", f"http://127.0.0.1:{closed_port()}",
        "--ipfs-api", f"/ip4/127.0.0.1/tcp/{closed_port()}/http",
        "--key-file", str(key),
        "--data", str(tmp_path / "shard.csv"),
        "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_it_waits_for_an_unreachable_chain_and_stops_at_once_when_asked(
    tmp_path: Path, arguments: list[str], stop: signal.Signals
) -> None:
    environment = python_environment()
    status_path = tmp_path / "state" / "status.json"
    with subprocess.Popen(
        [sys.executable, "-m", "mine", *arguments],
        stderr=subprocess.PIPE,
        env=environment,
        text=True,
        cwd=tmp_path,
    ) as mine:
        deadline = time.monotonic() + 60
        while not (status_path.exists() and '"waiting"' in status_path.read_text()):
            assert mine.poll() is None, mine.stderr.read() if mine.stderr else ""
            assert time.monotonic() < deadline, "the mine never said it was waiting"
            time.sleep(0.05)
        # Its backoff would keep it waiting up to 5 s; the signal ends the wait itself.
        # (How long stopping takes is the demo benchmark's "shutdown", not a timed test.)
        mine.send_signal(stop)
        code = mine.wait(timeout=60)
        assert mine.stderr is not None
        log = mine.stderr.read()

    assert code == EXIT_STOPPED
    assert "event=started" in log and "event=stopped" in log
    assert "waiting for the chain at http://127.0.0.1:" in log
    assert json.loads(status_path.read_text())["state"] == "stopped"


def test_a_bad_shard_stops_it_at_once_naming_the_line(
    tmp_path: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shard.csv").write_text("a,target\n1,2\n1,oops\n")

    assert main(arguments) == EXIT_FAILED

    assert f"mine: {tmp_path / 'shard.csv'}, line 3: target: 'oops' is not a number" in (
        capsys.readouterr().err
    )
    assert json.loads((tmp_path / "state" / "status.json").read_text())["state"] == "failed"


def test_a_mine_loads_neither_scikit_learn_nor_the_demo() -> None:
    # Every import costs each of ten mine processes start-up time and memory, and the
    # mine's image its size: the mine needs the gradient, the formats, IPFS and the chain.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, mine.cli; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env=python_environment(),
    ).stdout
    for heavy in ("sklearn", "scipy", "matplotlib", "rich", "pysonar.demo", "pysonar.diabetes"):
        assert f"'{heavy}'" not in loaded, f"the mine imports {heavy}"


def test_it_prints_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == EXIT_STOPPED
    assert capsys.readouterr().out == "mine 0.1.0 (Hydrogen)\n"


def test_the_healthcheck_reads_the_status_a_running_mine_keeps_fresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = StatusFile(tmp_path / "status.json", Status(state="running", mine="0xmine"))
    assert main(["--check-health", "--state-dir", str(tmp_path)]) == EXIT_FAILED  # none yet
    status.update()
    assert main(["--check-health", "--state-dir", str(tmp_path)]) == EXIT_STOPPED
    later = time.time() + 60
    assert check_health(["--state-dir", str(tmp_path)], now=later) == EXIT_FAILED
    status.update(state="failed")
    assert main(["--check-health", "--state-dir", str(tmp_path)]) == EXIT_FAILED
    assert "failed, status" in capsys.readouterr().err
