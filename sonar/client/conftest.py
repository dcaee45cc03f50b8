"""Fixtures for the client's tests: the chains (see sonar.chain.fixtures), a rich account."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sonar.chain import LocalChain, dev_accounts
from sonar.chain.fixtures import chain, session_chain, signers
from sonar.client import ModelRepository

# Holds more than 2^96 wei, to show that larger bounties are refused. Index 10 of the
# well-known development mnemonic: a public test key like the other dev accounts.
WHALE = dev_accounts(11)[10]
WHALE_BALANCE = 2**97


@pytest.fixture(scope="session")
def extra_genesis_balances() -> dict[str, int]:
    return {WHALE.address: WHALE_BALANCE}


@pytest.fixture
def whale() -> LocalAccount:
    return Account.from_key(WHALE.private_key)


@pytest.fixture
def repository(chain: LocalChain) -> ModelRepository:
    """The contract, read-only; `.as_account(signer)` to send transactions."""
    return ModelRepository(chain.w3)
