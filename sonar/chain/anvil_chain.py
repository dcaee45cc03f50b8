"""The real node: anvil (Foundry), from the bootstrapped Node tools, as a subprocess.

It listens on 127.0.0.1 only (unless told otherwise, e.g. inside a container network),
starts from a genesis file written from the compiled artifact, and is stopped by its pid.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from web3 import Web3

from sonar.artifacts import ContractArtifact
from sonar.chain.genesis import geth_genesis, model_repository
from sonar.chain.local_chain import ChainError, LocalChain, SnapshotId

# py-evm (the eth-tester backend) implements Prague; run anvil on the same fork so both
# backends charge the same gas and accept the same code.
HARDFORK = "prague"
_LISTENING = re.compile(r"Listening on (\S+):(\d+)")


def anvil_binary() -> Path:
    """The anvil binary npm installed for the bootstrap ($HYDROGEN_NODE_MODULES)."""
    node_modules = os.environ.get("HYDROGEN_NODE_MODULES")
    if not node_modules:
        raise ChainError(
            "HYDROGEN_NODE_MODULES is not set: run through ./pants, which sets it to the "
            "bootstrapped node_modules"
        )
    binary = Path(node_modules, "@foundry-rs", "anvil-linux-amd64", "bin", "anvil")
    if not os.access(binary, os.X_OK):
        raise ChainError(f"anvil is not installed at {binary}; run ./pants to bootstrap it")
    return binary


class AnvilChain(LocalChain):
    """anvil on `host`:`port` (port 0: any free port), ready when the constructor returns."""

    backend = "anvil"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        block_time: float | None = None,
        artifact: ContractArtifact | None = None,
        extra_balances: Mapping[str, int] | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="hydrogen-anvil-")
        genesis = Path(self._workdir.name, "genesis.json")
        genesis.write_text(json.dumps(geth_genesis(artifact or model_repository(), extra_balances)))
        argv = [str(anvil_binary()), "--host", host, "--port", str(port)]
        argv += ["--init", str(genesis), "--hardfork", HARDFORK]
        if block_time is not None:
            argv += ["--block-time", str(block_time)]
        started = time.monotonic()
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._log: deque[str] = deque(maxlen=50)
        self._listening = threading.Event()
        self._address: tuple[str, int] | None = None
        # anvil logs every request; read its output for as long as it runs so that a full
        # pipe never blocks it.
        threading.Thread(target=self._read_output, daemon=True).start()
        try:
            self._wait_until_listening(startup_timeout)
            assert self._address is not None
            self._host, self._port = self._address
            self.w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": 30}))
            self.chain_id = self.w3.eth.chain_id
            self.check_contract()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    @property
    def rpc_url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "::") else self._host
        return f"http://{host}:{self._port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._log.append(line.rstrip())
            match = _LISTENING.search(line)
            if match and not self._listening.is_set():
                self._address = (match.group(1), int(match.group(2)))
                self._listening.set()

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.process.poll() is not None:
                raise ChainError(
                    f"anvil exited with code {self.process.returncode}:\n" + self.log_tail()
                )
            if time.monotonic() > deadline:
                raise ChainError(f"anvil did not listen within {timeout} s:\n" + self.log_tail())

    def log_tail(self) -> str:
        return "\n".join(self._log)

    def snapshot(self) -> SnapshotId:
        return SnapshotId(self._rpc("evm_snapshot", []))

    def revert(self, snapshot: SnapshotId) -> None:
        if not self._rpc("evm_revert", [snapshot]):
            raise ChainError(f"anvil could not revert to snapshot {snapshot}")

    def _rpc(self, method: str, params: list[object]) -> object:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise ChainError(f"{method} failed: {response['error']}")
        return response["result"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._workdir.cleanup()
