"""The real node: anvil (Foundry), from the bootstrapped Node tools, as a subprocess.

It listens on 127.0.0.1 only (unless told otherwise, e.g. inside a container network),
starts from a genesis file written from the compiled artifact, and is stopped by its pid.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from web3 import Web3

from sonar.artifacts import ContractArtifact
from sonar.chain.genesis import geth_genesis, model_repository
from sonar.chain.local_chain import LocalChain, SnapshotId
from sonar.errors import ChainError
from sonar.supervisor import ProcessStartError, SupervisedProcess

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
    """anvil on `host`:`port` (port 0: any free port), ready when the constructor returns.

    It runs under `sonar.supervisor` with its log in a temporary directory that is deleted
    when it stops; `die_with_parent=False` lets a thread that ends first start it.
    """

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
        die_with_parent: bool = True,
    ) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="hydrogen-anvil-")
        genesis = Path(self._workdir.name, "genesis.json")
        genesis.write_text(json.dumps(geth_genesis(artifact or model_repository(), extra_balances)))
        argv = [str(anvil_binary()), "--host", host, "--port", str(port)]
        argv += ["--init", str(genesis), "--hardfork", HARDFORK]
        if block_time is not None:
            argv += ["--block-time", str(block_time)]
        started = time.monotonic()
        self.process = SupervisedProcess.start(
            "anvil",
            argv,
            log_path=Path(self._workdir.name, "anvil.log"),
            die_with_parent=die_with_parent,
        )
        try:
            try:
                self._host, self._port = self.process.wait_ready(
                    _listening_address, timeout=startup_timeout
                )
            except ProcessStartError as error:
                raise ChainError(str(error)) from error
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

    def log_tail(self) -> str:
        return self.process.log_tail()

    def snapshot(self) -> SnapshotId:
        return SnapshotId(str(self.w3.testing.snapshot()))

    def revert(self, snapshot: SnapshotId) -> None:
        self.w3.testing.revert(snapshot)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.process.stop(timeout=5)
        self._workdir.cleanup()


def _listening_address(log: str) -> tuple[str, int] | None:
    match = _LISTENING.search(log)
    return (match.group(1), int(match.group(2))) if match else None
