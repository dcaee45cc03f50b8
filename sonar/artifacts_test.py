"""The compiled ModelRepository artifact deploys to an in-process EVM and answers calls."""

from __future__ import annotations

import pytest
from web3 import EthereumTesterProvider, Web3

from sonar.artifacts import ArtifactError, load_contract

CID_DIGEST = bytes.fromhex("12" * 32)


def test_artifact_records_compiler_and_source() -> None:
    artifact = load_contract("ModelRepository")

    assert artifact.source == "sonar/contracts/ModelRepository.sol"
    assert artifact.compiler_version.startswith("0.8.37+commit.")
    assert artifact.compiler_settings["optimizer"] == {"enabled": True, "runs": 200}
    assert len(artifact.source_sha256) == 64
    assert artifact.bytecode.startswith("0x60") and len(artifact.deployed_bytecode) > 1000
    assert {"addModel", "addGradient", "evalGradient", "withdraw"} <= {
        entry.get("name") for entry in artifact.abi
    }


def test_missing_contract_names_what_is_there() -> None:
    with pytest.raises(ArtifactError, match=r"no contract 'Nope' \(it has \['ModelRepository'\]\)"):
        load_contract("Nope", file_stem="ModelRepository")


def test_missing_artifact_says_which_dependency_to_add() -> None:
    with pytest.raises(ArtifactError, match="add a dependency on the solidity_source"):
        load_contract("Absent")


def test_deploys_to_eth_tester_and_answers_calls() -> None:
    w3 = Web3(EthereumTesterProvider())
    owner = w3.eth.accounts[0]
    artifact = load_contract("ModelRepository")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    deployed = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": owner}))
    repository = w3.eth.contract(address=deployed.contractAddress, abi=artifact.abi)

    assert w3.eth.get_code(deployed.contractAddress).hex() == artifact.deployed_bytecode[2:]
    assert repository.functions.modelCount().call() == 0

    tx = repository.functions.addModel(CID_DIGEST, 5000, 1000).transact(
        {"from": owner, "value": 10**18}
    )
    w3.eth.wait_for_transaction_receipt(tx)

    model = repository.functions.getModel(0).call()
    assert repository.functions.modelCount().call() == 1
    assert model[0] == owner  # owner
    assert model[1] == CID_DIGEST  # weights
    assert model[5:8] == (10**18, 0, 10**18)  # bounty, paid, remaining
    assert model[9:12] == (5000, 1000, 5000)  # initial, target, best error
    assert w3.eth.get_balance(deployed.contractAddress) == 10**18
