"""The interface both local-chain backends offer: a Web3 connection to a chain that has
ModelRepository at CONTRACT_ADDRESS from its genesis block, and funded dev accounts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import NewType

from web3 import Web3

from sonar.chain.accounts import DevAccount, dev_accounts
from sonar.chain.genesis import CONTRACT_ADDRESS
from sonar.errors import ChainError

SnapshotId = NewType("SnapshotId", str)


class LocalChain(ABC):
    """A running local chain. Use it as a context manager: leaving stops it."""

    backend: str
    w3: Web3
    chain_id: int
    contract_address: str = CONTRACT_ADDRESS

    @property
    def accounts(self) -> tuple[DevAccount, ...]:
        return dev_accounts()

    @property
    def rpc_url(self) -> str | None:
        """The JSON-RPC URL other processes can use, or None for an in-process chain."""
        return None

    @abstractmethod
    def snapshot(self) -> SnapshotId:
        """Records the chain's state, to return to with `revert`."""

    @abstractmethod
    def revert(self, snapshot: SnapshotId) -> None:
        """Returns the chain to a state recorded by `snapshot` (which is used up)."""

    @abstractmethod
    def stop(self) -> None:
        """Stops the chain; safe to call more than once."""

    def check_contract(self) -> None:
        """Raises ChainError unless the contract's code is at CONTRACT_ADDRESS."""
        if not self.w3.eth.get_code(self.contract_address):
            raise ChainError(f"no contract code at {self.contract_address} on {self.backend}")

    def __enter__(self) -> LocalChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
