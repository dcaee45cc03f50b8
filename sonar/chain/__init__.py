"""Local chains that start with ModelRepository deployed at a fixed address.

Two backends behind one interface (`LocalChain`): anvil, the real node, as a subprocess
(`AnvilChain`), and eth-tester's in-process EVM (`EthTesterChain`) for fast tests.
"""

from sonar.chain.accounts import DevAccount, dev_accounts
from sonar.chain.anvil_chain import AnvilChain
from sonar.chain.eth_tester_chain import EthTesterChain
from sonar.chain.genesis import CHAIN_ID, CONTRACT_ADDRESS
from sonar.chain.local_chain import LocalChain, SnapshotId
from sonar.errors import ChainError

__all__ = [
    "CHAIN_ID",
    "CONTRACT_ADDRESS",
    "AnvilChain",
    "ChainError",
    "DevAccount",
    "EthTesterChain",
    "LocalChain",
    "SnapshotId",
    "dev_accounts",
]
