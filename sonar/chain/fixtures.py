"""pytest fixtures giving tests a local chain, on every backend.

In a conftest.py::

    from sonar.chain.fixtures import chain, extra_genesis_balances, session_chain, signers

Every test that takes `chain` then runs once on eth-tester and once on anvil, from the
genesis state (each test's changes are reverted after it). A conftest may override
`extra_genesis_balances` to fund more accounts at genesis.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from eth_account.signers.local import LocalAccount

from sonar.chain.anvil_chain import AnvilChain
from sonar.chain.eth_tester_chain import EthTesterChain
from sonar.chain.local_chain import LocalChain

BACKENDS = ("eth-tester", "anvil")


def start_chain(backend: str, extra_balances: Mapping[str, int] | None = None) -> LocalChain:
    if backend == "anvil":
        return AnvilChain(extra_balances=extra_balances)
    if backend == "eth-tester":
        return EthTesterChain(extra_balances=extra_balances)
    raise ValueError(f"unknown chain backend {backend!r}; expected one of {BACKENDS}")


@pytest.fixture(scope="session")
def extra_genesis_balances() -> dict[str, int]:
    """Accounts (address to wei) funded at genesis besides the dev accounts."""
    return {}


@pytest.fixture(scope="session", params=BACKENDS)
def session_chain(
    request: pytest.FixtureRequest, extra_genesis_balances: dict[str, int]
) -> Iterator[LocalChain]:
    with start_chain(request.param, extra_genesis_balances) as chain:
        yield chain


@pytest.fixture
def chain(session_chain: LocalChain) -> Iterator[LocalChain]:
    """The session's chain, returned to its genesis state after each test."""
    snapshot = session_chain.snapshot()
    yield session_chain
    session_chain.revert(snapshot)


@pytest.fixture
def signers(chain: LocalChain) -> list[LocalAccount]:
    """The dev accounts, able to sign."""
    return [account.signer() for account in chain.accounts]
