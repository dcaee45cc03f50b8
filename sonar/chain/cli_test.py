"""`sonar-chain` prints what clients need, serves the contract, and stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from web3 import Web3

from sonar.chain import CONTRACT_ADDRESS
from sonar.chain.cli import main


def test_prints_the_chain_and_stops_anvil_on_sigint() -> None:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    command = [sys.executable, "-m", "sonar.chain.cli", "--port", "0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, text=True
    ) as cli:
        try:
            assert cli.stdout is not None
            printed = [cli.stdout.readline() for _ in range(6)]
            printed += [cli.stdout.readline() for _ in range(10)]
            header = "".join(printed)
            url = re.search(r"RPC URL +(http://127\.0\.0\.1:\d+)", header)
            pid = re.search(r"anvil pid (\d+)", header)
            assert url and pid, header
            w3 = Web3(Web3.HTTPProvider(url.group(1)))
            assert w3.eth.chain_id == 31337
            assert w3.eth.get_code(CONTRACT_ADDRESS)
            assert f"ModelRepository   {CONTRACT_ADDRESS}" in header
            assert "(0) 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" in header
            cli.send_signal(signal.SIGINT)
            code = cli.wait(timeout=30)
        finally:
            if cli.poll() is None:
                cli.kill()
    assert code == 0
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid.group(1)), 0)


def test_exits_1_with_the_reason_when_anvil_cannot_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HYDROGEN_NODE_MODULES")

    assert main(["--port", "0"]) == 1
    assert "error: HYDROGEN_NODE_MODULES is not set" in capsys.readouterr().err
