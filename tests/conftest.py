"""Fixtures for cross-component tests: local chains on both backends, two IPFS nodes, ten
more funded accounts for tests with ten mines besides the data scientist, and the data
scientist's key and rows (a module overrides `keys` and `split` when it needs others)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount

from pysonar import diabetes
from pysonar.crypto.keys import KeyPair, generate_keypair
from pysonar.ipfs import IpfsClient, LocalIpfsNodes
from pysonar.ipfs.fixtures import ipfs_nodes_fixture
from sonar.chain import LocalChain, dev_accounts
from sonar.chain.accounts import DEV_BALANCE_WEI
from sonar.chain.fixtures import chain, session_chain, signers

# Indexes 10-19 of anvil's test mnemonic: WELL-KNOWN DEVELOPMENT KEYS, like indexes 0-9.
MINE_ACCOUNTS = dev_accounts(20)[10:]

# The data scientist's node and a mine's node, connected to each other.
ipfs_nodes = ipfs_nodes_fixture(count=2, scope="session")


@pytest.fixture(scope="session")
def extra_genesis_balances() -> dict[str, int]:
    return {account.address: DEV_BALANCE_WEI for account in MINE_ACCOUNTS}


@pytest.fixture
def mines(chain: LocalChain) -> list[LocalAccount]:
    """Ten funded accounts that are not the chain's first ten: one per mine."""
    return [account.signer() for account in MINE_ACCOUNTS]


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return generate_keypair(2048, rng=random.Random(2026))


@pytest.fixture(scope="module")
def split() -> diabetes.Split:
    return diabetes.split(diabetes.load(), validation_rows=82, shard_rows=[36] * 10, seed=3)


@pytest.fixture
def mine_node(ipfs_nodes: LocalIpfsNodes) -> Iterator[IpfsClient]:
    with ipfs_nodes[1].client() as client:
        yield client
