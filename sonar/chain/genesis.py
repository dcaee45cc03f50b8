"""The genesis every local chain starts from: ModelRepository already deployed.

The contract's runtime code sits at CONTRACT_ADDRESS in the genesis allocation, so every
component can be configured with that address before any chain runs. This is exactly what
a constructor deployment would leave behind: ModelRepository has no immutables (checked by
`genesis_allocation`), its reentrancy guard lives in transient storage, and its deployment
writes one storage slot, CONSTRUCTOR_STORAGE, which the genesis gives it too (a test
deploys it with its constructor and compares the storage).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_utils import to_canonical_address, to_checksum_address

from sonar.address import CONTRACT_ADDRESS
from sonar.artifacts import ContractArtifact, load_contract
from sonar.chain.accounts import DEV_BALANCE_WEI, dev_accounts
from sonar.errors import GenesisError

CHAIN_ID = 31337
GAS_LIMIT = 30_000_000
# What ModelRepository's deployment writes: `_modelCountPlusOne = 1` in slot 0, so that the
# first addModel rewrites that slot instead of creating it (see the contract).
CONSTRUCTOR_STORAGE: Mapping[int, int] = {0: 1}


def model_repository() -> ContractArtifact:
    return load_contract("ModelRepository")


def genesis_allocation(
    artifact: ContractArtifact, extra_balances: Mapping[str, int] | None = None
) -> dict[str, dict[str, Any]]:
    """Accounts at genesis: the contract's runtime code, the funded dev accounts, and any
    `extra_balances` (address to wei) a test needs."""
    if "__$" in artifact.deployed_bytecode:
        raise GenesisError(f"{artifact.name} needs library linking; it cannot be predeployed")
    if artifact.immutable_references:
        raise GenesisError(
            f"{artifact.name} has immutables, which its constructor writes into the code; "
            "it cannot be predeployed as compiled"
        )
    allocation: dict[str, dict[str, Any]] = {
        CONTRACT_ADDRESS: {
            "balance": 0,
            "nonce": 1,
            "code": artifact.deployed_bytecode,
            "storage": dict(CONSTRUCTOR_STORAGE),
        }
    }
    balances = {account.address: DEV_BALANCE_WEI for account in dev_accounts()}
    balances.update(extra_balances or {})
    for address, balance in balances.items():
        allocation[to_checksum_address(address)] = {
            "balance": balance,
            "nonce": 0,
            "code": "0x",
            "storage": {},
        }
    return allocation


def geth_genesis(
    artifact: ContractArtifact, extra_balances: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """A geth-style genesis file for `anvil --init`: Cancun from block 0, chain 31337."""
    forks = ("homestead", "eip150", "eip155", "eip158", "byzantium", "constantinople")
    forks += ("petersburg", "istanbul", "berlin", "london", "mergeNetsplit")
    config: dict[str, Any] = {"chainId": CHAIN_ID, **{f"{fork}Block": 0 for fork in forks}}
    config.update(
        shanghaiTime=0, cancunTime=0, terminalTotalDifficulty=0, terminalTotalDifficultyPassed=True
    )
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": "0x0",
        "extraData": "0x",
        "gasLimit": hex(GAS_LIMIT),
        "difficulty": "0x0",
        "mixHash": "0x" + "00" * 32,
        "coinbase": "0x" + "00" * 20,
        "alloc": {
            address: {
                "balance": hex(state["balance"]),
                "nonce": hex(state["nonce"]),
                **({"code": state["code"]} if state["code"] != "0x" else {}),
                **(
                    {
                        "storage": {
                            f"0x{slot:064x}": f"0x{value:064x}"
                            for slot, value in state["storage"].items()
                        }
                    }
                    if state["storage"]
                    else {}
                ),
            }
            for address, state in genesis_allocation(artifact, extra_balances).items()
        },
    }


def eth_tester_genesis_state(
    artifact: ContractArtifact, extra_balances: Mapping[str, int] | None = None
) -> dict[bytes, dict[str, Any]]:
    """The same allocation in py-evm's form, for eth-tester's PyEVMBackend."""
    return {
        to_canonical_address(address): {
            "balance": state["balance"],
            "nonce": state["nonce"],
            "code": bytes.fromhex(state["code"][2:]),
            "storage": dict(state["storage"]),
        }
        for address, state in genesis_allocation(artifact, extra_balances).items()
    }


IMAGE_DEV_ACCOUNTS = 31


def main(argv: list[str] | None = None) -> int:
    """Writes the geth-style genesis with ModelRepository and development accounts 0-30 funded
    to the path given (for images)."""
    import json
    import sys

    (path,) = sys.argv[1:] if argv is None else argv
    # Enough funded accounts for a data scientist and up to 30 mines (the compose platform).
    funded = {account.address: DEV_BALANCE_WEI for account in dev_accounts(IMAGE_DEV_ACCOUNTS)}
    genesis = geth_genesis(model_repository(), extra_balances=funded)
    Path(path).write_text(json.dumps(genesis, indent=2, sort_keys=True))
    return 0
