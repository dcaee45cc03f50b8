"""The in-process backend: eth-tester's py-evm chain, for fast tests (no RPC, no process)."""

from __future__ import annotations

from collections.abc import Mapping

from web3 import EthereumTesterProvider, Web3

from sonar.artifacts import ContractArtifact
from sonar.chain.accounts import DEV_HD_PATH, DEV_MNEMONIC
from sonar.chain.genesis import eth_tester_genesis_state, model_repository
from sonar.chain.local_chain import LocalChain, SnapshotId


class EthTesterChain(LocalChain):
    """py-evm in this process, starting from the same genesis as anvil.

    Its chain id is eth-tester's own (131277322940537); transactions signed for it must use
    `chain_id`, which the client reads from the chain.
    """

    backend = "eth-tester"

    def __init__(
        self,
        artifact: ContractArtifact | None = None,
        *,
        extra_balances: Mapping[str, int] | None = None,
    ) -> None:
        # Imported here: py-evm takes most of a second to import, and only tests need it.
        from eth_tester import EthereumTester, PyEVMBackend

        backend = PyEVMBackend(
            genesis_state=eth_tester_genesis_state(artifact or model_repository(), extra_balances),
            # Makes eth-tester's own accounts the dev accounts, funded by the genesis.
            mnemonic=DEV_MNEMONIC,
            hd_path=DEV_HD_PATH,
        )
        self.tester = EthereumTester(backend)
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.chain_id = self.w3.eth.chain_id
        self.check_contract()

    def snapshot(self) -> SnapshotId:
        return SnapshotId(str(self.tester.take_snapshot()))

    def revert(self, snapshot: SnapshotId) -> None:
        self.tester.revert_to_snapshot(int(snapshot))

    def stop(self) -> None:
        pass  # nothing runs outside this object
