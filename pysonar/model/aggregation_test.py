"""The data scientist sums mines' encrypted gradients and decrypts once per weight."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.crypto.encrypted_vector import decrypt_mantissas, decrypt_vector
from pysonar.crypto.keys import KeyPair
from pysonar.errors import KeyMismatch, ModelMismatch
from pysonar.model.aggregation import (
    decrypt_gradient,
    decrypt_mean_gradient,
    sum_gradients,
)
from pysonar.model.encrypted_model import EncryptedModel, encrypt_model
from pysonar.model.gradient import EncryptedGradient, ShardStatistics, encrypted_gradient
from pysonar.model.linear_regression import plaintext_gradient
from sonar.units import ModelId

MODEL_ID = ModelId(4)


@pytest.fixture(scope="module")
def model(keypair: KeyPair, weights: np.ndarray) -> EncryptedModel:
    return encrypt_model(weights, keypair.public_key, weight_bound=2.0**20, learning_rate=0.5)


def gradients_for(
    model: EncryptedModel, split: diabetes.Split, *, model_id: ModelId = MODEL_ID
) -> list[EncryptedGradient]:
    return [
        # Unmasked: masked gradients cannot be summed (see test_masked_gradients_...).
        encrypted_gradient(
            model, ShardStatistics.from_data(s.features, s.targets), model_id=model_id, mask=False
        )
        for s in split.shards
    ]


def test_the_decrypted_sum_equals_the_sum_of_individual_decryptions(
    keypair: KeyPair, model: EncryptedModel, diabetes_split: diabetes.Split
) -> None:
    gradients = gradients_for(model, diabetes_split)

    total = sum_gradients(gradients)

    individual = [decrypt_gradient(g, keypair.private_key) for g in gradients]
    np.testing.assert_allclose(
        decrypt_vector(total, keypair.private_key), np.sum(individual, axis=0), rtol=1e-12
    )
    # At the integer level the sum is exact (these shards share one exponent).
    assert {g.values.exponent for g in gradients} == {total.exponent}
    assert decrypt_mantissas(total, keypair.private_key) == [
        sum(column)
        for column in zip(*(decrypt_mantissas(g.values, keypair.private_key) for g in gradients))
    ]


def test_the_row_weighted_mean_is_the_gradient_of_the_union_of_the_shards(
    keypair: KeyPair,
    model: EncryptedModel,
    weights: np.ndarray,
    diabetes_split: diabetes.Split,
) -> None:
    gradients = gradients_for(model, diabetes_split)

    mean = decrypt_mean_gradient(gradients, keypair.private_key)

    union_features = np.vstack([s.features for s in diabetes_split.shards])
    union_targets = np.concatenate([s.targets for s in diabetes_split.shards])
    expected = plaintext_gradient(weights, union_features, union_targets)
    assert np.linalg.norm(mean - expected) / np.linalg.norm(expected) <= 1e-9


def test_summing_decrypts_once_per_weight_whatever_the_number_of_mines(
    keypair: KeyPair,
    model: EncryptedModel,
    diabetes_split: diabetes.Split,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gradients = gradients_for(model, diabetes_split)
    calls = []
    raw_decrypt: Callable[[int], int] = keypair.private_key.raw_decrypt

    def counting(ciphertext: int) -> int:
        calls.append(ciphertext)
        return raw_decrypt(ciphertext)

    monkeypatch.setattr(keypair.private_key, "raw_decrypt", counting)

    decrypt_mean_gradient(gradients, keypair.private_key)

    assert len(gradients) == 3
    assert len(calls) == 11


def test_gradients_for_different_model_versions_are_not_summed(
    keypair: KeyPair, weights: np.ndarray, model: EncryptedModel, diabetes_split: diabetes.Split
) -> None:
    newer = encrypt_model(
        weights, keypair.public_key, weight_bound=2.0**20, learning_rate=0.5, model_version=1
    )
    mixed = gradients_for(model, diabetes_split)[:1] + gradients_for(newer, diabetes_split)[:1]

    with pytest.raises(ModelMismatch) as raised:
        sum_gradients(mixed)

    assert (raised.value.what, raised.value.expected, raised.value.found) == (
        "model version",
        0,
        1,
    )


def test_gradients_for_different_models_are_not_summed(
    model: EncryptedModel, diabetes_split: diabetes.Split
) -> None:
    mixed = [
        gradients_for(model, diabetes_split)[0],
        gradients_for(model, diabetes_split, model_id=ModelId(5))[1],
    ]

    with pytest.raises(ModelMismatch, match="model id mismatch: expected 4, found 5"):
        sum_gradients(mixed)


def test_gradients_under_different_keys_are_not_summed(
    other_keypair: KeyPair,
    weights: np.ndarray,
    model: EncryptedModel,
    diabetes_split: diabetes.Split,
) -> None:
    impostor = encrypt_model(
        weights, other_keypair.public_key, weight_bound=2.0**20, learning_rate=0.5
    )
    mixed = gradients_for(model, diabetes_split)[:1] + gradients_for(impostor, diabetes_split)[:1]

    with pytest.raises(KeyMismatch):
        sum_gradients(mixed)


def test_summing_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one gradient"):
        sum_gradients([])
