"""Chains for sonar's tests: every test that takes `chain` runs on anvil and on eth-tester."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sonar.chain import AnvilChain, EthTesterChain, LocalChain, dev_accounts
from sonar.client import ModelRepository

BACKENDS = ("eth-tester", "anvil")
# Holds more than 2^96 wei, to show that larger bounties are refused. Index 10 of the
# well-known development mnemonic: a public test key like the other dev accounts.
WHALE = dev_accounts(11)[10]
WHALE_BALANCE = 2**97


def start_chain(backend: str) -> LocalChain:
    extra = {WHALE.address: WHALE_BALANCE}
    if backend == "anvil":
        return AnvilChain(extra_balances=extra)
    return EthTesterChain(extra_balances=extra)


@pytest.fixture(scope="session", params=BACKENDS)
def session_chain(request: pytest.FixtureRequest) -> Iterator[LocalChain]:
    with start_chain(request.param) as chain:
        yield chain


@pytest.fixture
def chain(session_chain: LocalChain) -> Iterator[LocalChain]:
    """The session's chain, returned to its genesis state after each test."""
    snapshot = session_chain.snapshot()
    yield session_chain
    session_chain.revert(snapshot)


@pytest.fixture
def signers(chain: LocalChain) -> list[LocalAccount]:
    return [account.signer() for account in chain.accounts]


@pytest.fixture
def whale() -> LocalAccount:
    return Account.from_key(WHALE.private_key)


@pytest.fixture
def repository(chain: LocalChain) -> ModelRepository:
    """The contract, read-only; `.as_account(signer)` to send transactions."""
    return ModelRepository(chain.w3)
