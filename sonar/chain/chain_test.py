"""Both backends start with ModelRepository at its fixed address, and stop cleanly."""

from __future__ import annotations

import os

import pytest
from web3 import EthereumTesterProvider, Web3

from sonar.chain import CONTRACT_ADDRESS, AnvilChain, ChainError, EthTesterChain, LocalChain
from sonar.chain.accounts import DEV_BALANCE_WEI, dev_accounts
from sonar.chain.genesis import (
    CONSTRUCTOR_STORAGE,
    GenesisError,
    genesis_allocation,
    model_repository,
)
from sonar.client import ModelRepository


def test_the_contract_address_is_fixed_before_any_chain_starts() -> None:
    assert CONTRACT_ADDRESS == "0xDC93BD9bF032d931CacB53C07662C156c3350C4A"


def test_dev_accounts_are_anvils_well_known_ones() -> None:
    first = dev_accounts()[0]
    assert first.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert first.private_key == (
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    )
    assert len(dev_accounts()) == 10


def test_chain_starts_with_the_contract_and_funded_accounts(chain: LocalChain) -> None:
    code = chain.w3.eth.get_code(CONTRACT_ADDRESS)

    assert code.to_0x_hex() == model_repository().deployed_bytecode
    assert chain.w3.eth.block_number == 0
    assert all(chain.w3.eth.get_balance(a.address) == DEV_BALANCE_WEI for a in chain.accounts)
    assert ModelRepository(chain.w3).model_count() == 0


def test_genesis_deployment_equals_a_constructor_deployment(chain: LocalChain) -> None:
    artifact = model_repository()
    deployer = chain.accounts[1].signer()
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    transaction = factory.constructor().build_transaction(
        {"from": deployer.address, "nonce": 0, "gas": 3_000_000}
    )
    sent = chain.w3.eth.send_raw_transaction(deployer.sign_transaction(transaction).raw_transaction)
    deployed = chain.w3.eth.wait_for_transaction_receipt(sent).contractAddress

    assert chain.w3.eth.get_code(deployed) == chain.w3.eth.get_code(CONTRACT_ADDRESS)
    # The same storage: the slot the deployment initializes, the first slots after it, and
    # the guard's slot (transient, so empty after every transaction).
    guard_slot = 0x9B779B17422D0DF92223018B32B4D1FA46E071723D6817E2486D003BECC55F00
    for slot in (*range(8), guard_slot):
        expected = CONSTRUCTOR_STORAGE.get(slot, 0).to_bytes(32, "big")
        assert chain.w3.eth.get_storage_at(deployed, slot) == expected, slot
        assert chain.w3.eth.get_storage_at(CONTRACT_ADDRESS, slot) == expected, slot


def test_snapshots_return_the_chain_to_an_earlier_state(chain: LocalChain) -> None:
    sender, receiver = chain.accounts[0], chain.accounts[1]
    snapshot = chain.snapshot()
    chain.w3.eth.wait_for_transaction_receipt(
        chain.w3.eth.send_transaction(
            {"from": sender.address, "to": receiver.address, "value": 12345}
        )
    )
    assert chain.w3.eth.get_balance(receiver.address) == DEV_BALANCE_WEI + 12345

    chain.revert(snapshot)

    assert chain.w3.eth.get_balance(receiver.address) == DEV_BALANCE_WEI


def test_anvil_listens_on_loopback_and_stops_by_pid() -> None:
    with AnvilChain() as chain:
        pid = chain.pid
        assert chain.rpc_url.startswith("http://127.0.0.1:")
        assert chain.chain_id == 31337
        os.kill(pid, 0)  # running

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert chain.process.returncode is not None


def test_anvil_reports_why_it_could_not_start() -> None:
    with AnvilChain() as running:
        port = int(running.rpc_url.rsplit(":", 1)[1])

        with pytest.raises(ChainError, match=r"anvil exited with code \d+ (.|\n)*in use"):
            AnvilChain(port=port)


def test_anvil_needs_the_bootstrapped_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDROGEN_NODE_MODULES")

    with pytest.raises(ChainError, match="HYDROGEN_NODE_MODULES is not set: run through ./pants"):
        AnvilChain()


def test_eth_tester_chain_is_in_process() -> None:
    chain = EthTesterChain()

    assert chain.rpc_url is None
    assert isinstance(chain.w3.provider, EthereumTesterProvider)
    assert isinstance(chain.w3, Web3)


def test_a_contract_with_immutables_cannot_be_predeployed() -> None:
    artifact = model_repository()
    with_immutables = type(artifact)(
        **{**artifact.__dict__, "immutable_references": {"12": [{"start": 1, "length": 32}]}}
    )

    with pytest.raises(GenesisError, match="has immutables"):
        genesis_allocation(with_immutables)
