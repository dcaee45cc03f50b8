"""Shared test fixtures: seeded Paillier keys (1024 bits for speed, one 2048) and diabetes rows."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.crypto.keys import KeyPair, generate_keypair


@pytest.fixture(scope="session")
def keypair() -> KeyPair:
    """A reproducible 1024-bit key: fast, and accepted by readers only when asked."""
    return generate_keypair(1024, rng=random.Random(20261130))


@pytest.fixture(scope="session")
def other_keypair() -> KeyPair:
    """A second 1024-bit key, for everything that must not mix keys."""
    return generate_keypair(1024, rng=random.Random(7))


@pytest.fixture(scope="session")
def keypair_2048() -> KeyPair:
    """A reproducible key at the production size."""
    return generate_keypair(2048, rng=random.Random(2048))


@pytest.fixture(scope="session")
def diabetes_data() -> diabetes.Shard:
    """All 442 rows of scikit-learn's diabetes set."""
    return diabetes.load()


@pytest.fixture(scope="session")
def diabetes_split(diabetes_data: diabetes.Shard) -> diabetes.Split:
    """42 validation rows and shards of 44, 40 and 30 rows, from a fixed seed."""
    return diabetes.split(diabetes_data, validation_rows=42, shard_rows=[44, 40, 30], seed=11)


@pytest.fixture(scope="session")
def weights() -> np.ndarray:
    """Ten feature weights of the size the diabetes fit has, then a bias near the mean target."""
    rng = np.random.default_rng(5)
    return np.concatenate([rng.normal(0.0, 400.0, 10), [150.0]])
