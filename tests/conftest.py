"""Fixtures for cross-component tests: local chains on both backends, two IPFS nodes."""

from __future__ import annotations

from pysonar.ipfs.fixtures import ipfs_nodes_fixture
from sonar.chain.fixtures import (
    chain,
    extra_genesis_balances,
    session_chain,
    signers,
)

# The data scientist's node and a mine's node, connected to each other.
ipfs_nodes = ipfs_nodes_fixture(count=2, scope="session")
