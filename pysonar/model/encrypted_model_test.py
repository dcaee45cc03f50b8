"""The encrypted model: weight encoding under the declared bound, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from pysonar.crypto.keys import KeyPair
from pysonar.errors import KeyMismatch, NonFiniteInput, ShapeMismatch, WeightOutOfBound
from pysonar.model.encrypted_model import (
    WEIGHT_PRECISION_BITS,
    EncryptedModel,
    decrypt_weights,
    encrypt_model,
    weight_exponent,
)

BOUND = 2.0**20


def test_weights_decrypt_to_within_half_an_encoding_step(
    keypair: KeyPair, weights: np.ndarray
) -> None:
    model = encrypt_model(weights, keypair.public_key, weight_bound=BOUND, learning_rate=0.5)

    decrypted = decrypt_weights(model, keypair.private_key)

    assert model.weights.exponent == weight_exponent(BOUND)
    assert np.max(np.abs(decrypted - weights)) <= 16.0**model.weights.exponent / 2
    assert (model.feature_count, model.learning_rate, model.model_version) == (10, 0.5, 0)


def test_the_weight_encoding_resolves_64_bits_below_the_bound() -> None:
    for bound in (1e-3, 1.0, BOUND, 1e200):
        step = 16.0 ** weight_exponent(bound)
        assert (
            bound * 2.0 ** -(WEIGHT_PRECISION_BITS + 5)
            < step
            <= bound * 2.0**-WEIGHT_PRECISION_BITS
        )


def test_the_mantissa_bound_follows_from_the_declared_weight_bound(keypair: KeyPair) -> None:
    model = encrypt_model(np.zeros(3), keypair.public_key, weight_bound=1.0, learning_rate=1.0)

    # 1.0 = 0.5 * 2**1, so the step is 2**(1 - 1 - 64) = 16**-16: 1.0 is 2**64 steps.
    assert model.weights.exponent == -16
    assert model.weight_mantissa_bound == 2**64
    assert model.public_key == keypair.public_key


def test_a_weight_beyond_the_declared_bound_is_refused(keypair: KeyPair) -> None:
    with pytest.raises(WeightOutOfBound) as raised:
        encrypt_model(
            np.array([1.0, -1000.5, 2.0]), keypair.public_key, weight_bound=1000.0, learning_rate=1
        )

    assert (raised.value.index, raised.value.value, raised.value.bound) == (1, -1000.5, 1000.0)


def test_non_finite_weights_are_refused(keypair: KeyPair) -> None:
    with pytest.raises(NonFiniteInput) as raised:
        encrypt_model(np.array([np.nan, 0.0]), keypair.public_key, weight_bound=1, learning_rate=1)

    assert raised.value.count == 1


@pytest.mark.parametrize(
    ("bound", "rate"),
    [(0.0, 1.0), (-1.0, 1.0), (float("inf"), 1.0), (1.0, 0.0), (1.0, float("nan"))],
)
def test_the_bound_and_learning_rate_must_be_positive_and_finite(
    keypair: KeyPair, bound: float, rate: float
) -> None:
    with pytest.raises(ValueError, match="must be positive and finite"):
        encrypt_model(np.zeros(2), keypair.public_key, weight_bound=bound, learning_rate=rate)


@pytest.mark.parametrize("version", [-1, 2**32, True])
def test_the_model_version_must_fit_the_contracts_uint32(keypair: KeyPair, version: int) -> None:
    with pytest.raises(ValueError, match="model version must be in"):
        encrypt_model(
            np.zeros(2), keypair.public_key, weight_bound=1, learning_rate=1, model_version=version
        )


@pytest.mark.parametrize("shape", [(1,), (2, 2)])
def test_weights_must_be_a_vector_of_features_and_bias(
    keypair: KeyPair, shape: tuple[int, ...]
) -> None:
    with pytest.raises(ShapeMismatch):
        encrypt_model(np.zeros(shape), keypair.public_key, weight_bound=1, learning_rate=1)


def test_a_model_whose_weight_count_is_not_features_plus_one_cannot_exist(
    keypair: KeyPair,
) -> None:
    model = encrypt_model(np.zeros(4), keypair.public_key, weight_bound=1, learning_rate=1)

    with pytest.raises(ShapeMismatch) as raised:
        EncryptedModel(model.weights, 4, 1.0, 1.0, 0)

    assert (raised.value.expected, raised.value.found) == (5, 4)


def test_decrypting_with_another_key_is_refused(keypair: KeyPair, other_keypair: KeyPair) -> None:
    model = encrypt_model(np.zeros(2), keypair.public_key, weight_bound=1, learning_rate=1)

    with pytest.raises(KeyMismatch):
        decrypt_weights(model, other_keypair.private_key)
