"""Fixtures for the chain's tests: a local chain on every backend (see sonar.chain.fixtures)."""

from __future__ import annotations

from sonar.chain.fixtures import chain, extra_genesis_balances, session_chain, signers
