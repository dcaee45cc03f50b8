"""Attacks by fixture contracts: re-entering withdraw and withdrawTo, refusing payment, and
forcing ether in without a call."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector

from sonar.artifacts import load_contract
from sonar.chain import LocalChain
from sonar.client import (
    GradientAdded,
    ModelRepository,
    NothingToWithdraw,
    WithdrawalFailed,
    Withdrawn,
)
from sonar.client.errors import RevertDecoder

ETH = 10**18
GRADIENT = bytes.fromhex("33" * 32)
NEW_WEIGHTS = bytes.fromhex("22" * 32)


def deploy(
    chain: LocalChain, deployer: LocalAccount, name: str, repository: ModelRepository
) -> Any:
    artifact = load_contract(name, package="sonar.contracts.mocks")
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send(chain, deployer, factory.constructor(repository.address))
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def send(chain: LocalChain, sender: LocalAccount, function: Any, *, value: int = 0) -> Any:
    """Sends with a fixed gas limit, so that a reverting call is mined rather than refused."""
    transaction = function.build_transaction(
        {
            "from": sender.address,
            "gas": 3_000_000,
            "nonce": chain.w3.eth.get_transaction_count(sender.address),
            "value": value,
        }
    )
    signed = sender.sign_transaction(transaction)
    return chain.w3.eth.wait_for_transaction_receipt(
        chain.w3.eth.send_raw_transaction(signed.raw_transaction)
    )


def credited_contract(
    chain: LocalChain, repository: ModelRepository, owner: LocalAccount, name: str
) -> Any:
    """A fixture contract that submitted a gradient and was credited 1 ETH for it."""
    fixture = deploy(chain, owner, name, repository)
    model_id = (
        repository.as_account(owner)
        .add_model(GRADIENT, initial_error=100, target_error=0, bounty=2 * ETH)
        .model_id
    )
    send(chain, owner, fixture.functions.submit(model_id, GRADIENT))
    (submitted,) = (e for e in repository.events().poll() if isinstance(e, GradientAdded))
    repository.as_account(owner).eval_gradient(
        submitted.gradient_id, new_error=50, weights=NEW_WEIGHTS
    )
    assert repository.credit_of(fixture.address) == ETH
    return fixture


def test_reentering_withdraw_is_stopped_by_the_guard(
    chain: LocalChain, repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    attacker = credited_contract(chain, repository, signers[0], "ReentrancyAttacker")
    balance = repository.balance()

    receipt = send(chain, signers[0], attacker.functions.attack(1))  # Mode.Record

    assert receipt["status"] == 1
    guard_error = function_signature_to_4byte_selector("ReentrancyGuardReentrantCall()")
    assert attacker.functions.reentryError().call() == guard_error
    assert attacker.functions.reentries().call() == 1
    assert attacker.functions.reentriesPaid().call() == 0
    assert chain.w3.eth.get_balance(attacker.address) == ETH  # paid once
    assert repository.balance() == balance - ETH
    assert repository.credit_of(attacker.address) == 0


def test_reentering_withdraw_to_is_stopped_by_the_guard(
    chain: LocalChain, repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    attacker = credited_contract(chain, repository, signers[0], "ReentrancyAttacker")
    balance = repository.balance()

    receipt = send(chain, signers[0], attacker.functions.attackWithdrawTo(1))  # Mode.Record

    assert receipt["status"] == 1
    guard_error = function_signature_to_4byte_selector("ReentrancyGuardReentrantCall()")
    assert attacker.functions.reentryError().call() == guard_error
    assert (attacker.functions.reentries().call(), attacker.functions.reentriesPaid().call()) == (
        1,
        0,
    )
    assert chain.w3.eth.get_balance(attacker.address) == ETH  # paid once
    assert repository.balance() == balance - ETH
    assert repository.credit_of(attacker.address) == 0


def test_a_failed_reentry_reverts_the_whole_withdrawal_and_keeps_the_credit(
    chain: LocalChain, repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    attacker = credited_contract(chain, repository, signers[0], "ReentrancyAttacker")
    balance = repository.balance()

    receipt = send(chain, signers[0], attacker.functions.attack(0))  # Mode.Bubble

    assert receipt["status"] == 0
    assert chain.w3.eth.get_balance(attacker.address) == 0
    assert repository.credit_of(attacker.address) == ETH
    assert repository.balance() == balance


def test_a_recipient_that_rejects_ether_cannot_block_evaluations(
    chain: LocalChain, repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    owner = signers[0]
    rejecter = credited_contract(chain, repository, owner, "EtherRejecter")
    # The owner keeps evaluating other gradients of the same model.
    model_id = 0
    other = repository.as_account(signers[1]).add_gradient(model_id, GRADIENT)
    repository.as_account(owner).eval_gradient(other.gradient_id, new_error=25, weights=GRADIENT)
    assert repository.credit_of(signers[1].address) == 2 * ETH * (50 - 25) // 100

    # Its own withdrawal fails with the contract's error, and its credit stays.
    with pytest.raises(Exception) as failed:  # noqa: B017 - decoded precisely below
        rejecter.functions.withdraw().call({"from": owner.address})
    decoded = RevertDecoder(repository.artifact.abi).from_call_error(failed.value)
    assert isinstance(decoded, WithdrawalFailed)
    assert (decoded.account, decoded.recipient, decoded.amount) == (
        rejecter.address,
        rejecter.address,
        ETH,
    )
    receipt = send(chain, owner, rejecter.functions.withdraw())
    assert receipt["status"] == 0
    assert repository.credit_of(rejecter.address) == ETH


def test_a_recipient_that_rejects_ether_takes_its_credit_to_another_address(
    chain: LocalChain, repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    rejecter = credited_contract(chain, repository, signers[0], "EtherRejecter")
    treasury = signers[3].address
    before = chain.w3.eth.get_balance(treasury)
    cursor = repository.events(next_block=chain.w3.eth.block_number + 1)

    receipt = send(chain, signers[0], rejecter.functions.withdrawTo(treasury))

    assert receipt["status"] == 1
    assert chain.w3.eth.get_balance(treasury) == before + ETH
    assert repository.credit_of(rejecter.address) == 0
    (withdrawn,) = cursor.poll()
    assert isinstance(withdrawn, Withdrawn)
    assert (withdrawn.account, withdrawn.recipient, withdrawn.amount) == (
        rejecter.address,
        treasury,
        ETH,
    )


def test_withdrawing_to_a_contract_that_rejects_ether_fails_and_keeps_the_credit(
    chain: LocalChain, repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    owner, mine = signers[0], signers[1]
    rejecter = deploy(chain, owner, "EtherRejecter", repository)
    model_id = (
        repository.as_account(owner)
        .add_model(GRADIENT, initial_error=100, target_error=0, bounty=2 * ETH)
        .model_id
    )
    gradient_id = repository.as_account(mine).add_gradient(model_id, GRADIENT).gradient_id
    repository.as_account(owner).eval_gradient(gradient_id, new_error=50, weights=NEW_WEIGHTS)

    with pytest.raises(WithdrawalFailed) as failed:
        repository.as_account(mine).withdraw_to(rejecter.address)

    assert (failed.value.account, failed.value.recipient, failed.value.amount) == (
        mine.address,
        rejecter.address,
        ETH,
    )
    assert repository.credit_of(mine.address) == ETH


def test_ether_forced_in_by_selfdestruct_is_on_top_of_credits_and_escrow_and_breaks_nothing(
    chain: LocalChain, repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    owner, mine = signers[0], signers[1]
    as_owner, as_mine = repository.as_account(owner), repository.as_account(mine)
    added = as_owner.add_model(GRADIENT, initial_error=100, target_error=10, bounty=3 * ETH)
    model_id = added.model_id
    gradient_id = as_mine.add_gradient(model_id, GRADIENT).gradient_id
    as_owner.eval_gradient(gradient_id, new_error=70, weights=NEW_WEIGHTS)  # 1 ETH credited
    accounted = repository.balance()
    assert accounted == 3 * ETH

    # ForceSender's constructor self-destructs to the repository: no code of it runs.
    artifact = load_contract("ForceSender", package="sonar.contracts.mocks")
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send(chain, signers[2], factory.constructor(repository.address), value=5 * ETH)

    assert receipt["status"] == 1
    assert chain.w3.eth.get_code(receipt["contractAddress"]) == b""  # gone (EIP-6780)
    credits = sum(repository.credit_of(signer.address) for signer in signers)
    escrow = repository.get_model(model_id).remaining
    assert (credits, escrow) == (ETH, 2 * ETH)
    assert repository.balance() == credits + escrow + 5 * ETH > credits + escrow

    # Everything works as before, and the forced ether is nobody's to withdraw.
    second = as_mine.add_gradient(model_id, GRADIENT).gradient_id
    as_owner.eval_gradient(second, new_error=10, weights=GRADIENT)  # reaches the target
    assert as_mine.withdraw().amount == 3 * ETH
    for signer in signers:
        with pytest.raises(NothingToWithdraw):
            repository.as_account(signer).withdraw()
    assert repository.balance() == 5 * ETH
