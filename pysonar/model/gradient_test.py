"""The mine's encrypted gradient: exactness on diabetes shards, obfuscation, and overflow guards."""

from __future__ import annotations

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.crypto.encrypted_vector import (
    decrypt_mantissas,
    decrypt_vector,
    linear_map,
    plaintext_limit,
)
from pysonar.crypto.fixed_point import encode
from pysonar.crypto.keys import KeyPair
from pysonar.crypto.obfuscation import ObfuscationPool
from pysonar.errors import NonFiniteInput, OverflowRiskError, ShapeMismatch
from pysonar.model.encrypted_model import EncryptedModel, encrypt_model
from pysonar.model.gradient import (
    ShardStatistics,
    encrypted_gradient,
    encrypted_gradient_row_by_row,
    row_bounds,
)
from pysonar.model.linear_regression import plaintext_gradient
from sonar.units import ModelId

MODEL_ID = ModelId(7)
BOUND = 2.0**20


def relative_error(found: np.ndarray, expected: np.ndarray) -> float:
    # Scaled first: the norms of gradients near 1e282 would overflow to inf.
    scale = float(np.max(np.abs(expected)))
    return float(np.linalg.norm((found - expected) / scale) / np.linalg.norm(expected / scale))


def shard_of(data: diabetes.Shard, rows: int) -> diabetes.Shard:
    if rows == data.row_count:
        return data
    return diabetes.split(data, validation_rows=0, shard_rows=[rows], seed=rows).shards[0]


@pytest.fixture(scope="module")
def model(keypair: KeyPair, weights: np.ndarray) -> EncryptedModel:
    return encrypt_model(
        weights, keypair.public_key, weight_bound=BOUND, learning_rate=0.5, model_version=3
    )


@pytest.mark.parametrize("rows", [44, 442])
def test_the_sufficient_statistics_gradient_decrypts_to_the_numpy_gradient(
    keypair: KeyPair,
    model: EncryptedModel,
    weights: np.ndarray,
    diabetes_data: diabetes.Shard,
    rows: int,
) -> None:
    shard = shard_of(diabetes_data, rows)

    gradient = encrypted_gradient(
        model, ShardStatistics.from_data(shard.features, shard.targets), model_id=MODEL_ID
    )

    expected = plaintext_gradient(weights, shard.features, shard.targets)
    assert (
        relative_error(
            decrypt_vector(gradient.values, keypair.private_key, mask_bits=gradient.mask_bits),
            expected,
        )
        <= 1e-9
    )
    assert (gradient.model_id, gradient.model_version, gradient.row_count) == (MODEL_ID, 3, rows)


@pytest.mark.parametrize("rows", [44, 442])
def test_the_row_by_row_gradient_decrypts_to_the_numpy_gradient(
    keypair: KeyPair,
    model: EncryptedModel,
    weights: np.ndarray,
    diabetes_data: diabetes.Shard,
    rows: int,
) -> None:
    shard = shard_of(diabetes_data, rows)

    gradient = encrypted_gradient_row_by_row(
        model, shard.features, shard.targets, model_id=MODEL_ID
    )

    expected = plaintext_gradient(weights, shard.features, shard.targets)
    assert (
        relative_error(
            decrypt_vector(gradient.values, keypair.private_key, mask_bits=gradient.mask_bits),
            expected,
        )
        <= 1e-9
    )
    assert gradient.row_count == rows


def test_at_2048_bits_the_gradient_decrypts_to_the_numpy_gradient(
    keypair_2048: KeyPair, weights: np.ndarray, diabetes_split: diabetes.Split
) -> None:
    shard = diabetes_split.shards[0]
    model = encrypt_model(weights, keypair_2048.public_key, weight_bound=BOUND, learning_rate=1)

    gradient = encrypted_gradient(
        model, ShardStatistics.from_data(shard.features, shard.targets), model_id=MODEL_ID
    )

    assert keypair_2048.public_key.n.bit_length() == 2048
    expected = plaintext_gradient(weights, shard.features, shard.targets)
    decrypted = decrypt_vector(
        gradient.values, keypair_2048.private_key, mask_bits=gradient.mask_bits
    )
    assert relative_error(decrypted, expected) <= 1e-9


def test_every_returned_ciphertext_is_obfuscated_with_a_pool_factor(
    keypair: KeyPair, model: EncryptedModel, diabetes_split: diabetes.Split
) -> None:
    shard = diabetes_split.shards[1]
    statistics = ShardStatistics.from_data(shard.features, shard.targets)
    pool = ObfuscationPool(keypair.public_key)
    pool.fill(11)

    gradient = encrypted_gradient(model, statistics, model_id=MODEL_ID, pool=pool)

    result_exponent = statistics.gram_exponent + model.weights.exponent
    bare = linear_map(
        model.weights,
        statistics.gram_mantissas,
        matrix_exponent=statistics.gram_exponent,
        offset=[-m for m in encode(statistics.moment, result_exponent)],
    )
    assert (len(pool), pool.on_demand) == (0, 0)
    assert gradient.values.obfuscated
    assert all(a != b for a, b in zip(gradient.values.ciphertexts, bare.ciphertexts))
    assert decrypt_mantissas(
        gradient.values, keypair.private_key, mask_bits=gradient.mask_bits
    ) == decrypt_mantissas(bare, keypair.private_key)


def test_without_a_pool_each_computation_is_freshly_randomised(
    keypair: KeyPair, model: EncryptedModel, diabetes_split: diabetes.Split
) -> None:
    shard = diabetes_split.shards[2]
    statistics = ShardStatistics.from_data(shard.features, shard.targets)

    first = encrypted_gradient(model, statistics, model_id=MODEL_ID)
    second = encrypted_gradient(model, statistics, model_id=MODEL_ID)

    assert first.values.obfuscated and second.values.obfuscated
    assert not set(first.values.ciphertexts) & set(second.values.ciphertexts)
    np.testing.assert_array_equal(
        decrypt_vector(first.values, keypair.private_key, mask_bits=first.mask_bits),
        decrypt_vector(second.values, keypair.private_key, mask_bits=second.mask_bits),
    )


def test_targets_too_large_for_the_key_are_refused_before_computing(
    keypair: KeyPair, model: EncryptedModel, diabetes_split: diabetes.Split
) -> None:
    shard = diabetes_split.shards[0]
    statistics = ShardStatistics.from_data(shard.features, shard.targets * 1e280)
    pool = ObfuscationPool(keypair.public_key)
    pool.fill(11)

    with pytest.raises(OverflowRiskError) as raised:
        encrypted_gradient(model, statistics, model_id=MODEL_ID, pool=pool)

    assert raised.value.limit == plaintext_limit(keypair.public_key)
    assert raised.value.bound > raised.value.limit
    assert "1024-bit key" in raised.value.details
    assert len(pool) == 11


def test_a_weight_bound_too_small_for_the_data_is_refused(
    keypair: KeyPair, diabetes_split: diabetes.Split
) -> None:
    # Weights within 1e-250 get an exponent so fine that y's mantissas outgrow the key.
    tiny = encrypt_model(np.zeros(11), keypair.public_key, weight_bound=1e-250, learning_rate=1)
    shard = diabetes_split.shards[0]

    with pytest.raises(OverflowRiskError, match=r"weights within 1e-250"):
        encrypted_gradient(
            tiny, ShardStatistics.from_data(shard.features, shard.targets), model_id=MODEL_ID
        )


def test_the_row_by_row_method_refuses_the_same_oversized_input(
    model: EncryptedModel, diabetes_split: diabetes.Split
) -> None:
    shard = diabetes_split.shards[0]

    with pytest.raises(OverflowRiskError, match="row by row over 44 rows"):
        encrypted_gradient_row_by_row(
            model, shard.features, shard.targets * 1e280, model_id=MODEL_ID
        )


def test_the_same_oversized_input_fits_a_larger_key(
    keypair_2048: KeyPair, diabetes_split: diabetes.Split
) -> None:
    # The guard scales with the key: what a 1024-bit key refuses, 2048 bits can hold.
    shard = diabetes_split.shards[0]
    weights = np.linspace(-100.0, 100.0, 11)
    model = encrypt_model(weights, keypair_2048.public_key, weight_bound=BOUND, learning_rate=1)
    targets = shard.targets * 1e280

    gradient = encrypted_gradient(
        model, ShardStatistics.from_data(shard.features, targets), model_id=MODEL_ID
    )

    expected = plaintext_gradient(weights, shard.features, targets)
    decrypted = decrypt_vector(
        gradient.values, keypair_2048.private_key, mask_bits=gradient.mask_bits
    )
    assert relative_error(decrypted, expected) <= 1e-9


def test_the_bound_holds_at_the_extreme_weights_and_is_attained_there(
    keypair: KeyPair, diabetes_split: diabetes.Split
) -> None:
    # Weights at +/- the bound with the signs of row i of A push component i hardest; with
    # negated targets the bias row's offset adds to that too, so its bound is reached exactly.
    shard = diabetes_split.shards[1]
    statistics = ShardStatistics.from_data(shard.features, -shard.targets)
    bound = 1000.0
    for row in (0, 4, 10):
        extreme = np.where(statistics.gram[row] >= 0, bound, -bound)
        model = encrypt_model(extreme, keypair.public_key, weight_bound=bound, learning_rate=1)
        result_exponent = statistics.gram_exponent + model.weights.exponent
        bounds = row_bounds(
            statistics.gram_mantissas,
            [-m for m in encode(statistics.moment, result_exponent)],
            [model.weight_mantissa_bound] * 11,
        )

        gradient = encrypted_gradient(model, statistics, model_id=MODEL_ID)

        mantissas = decrypt_mantissas(
            gradient.values, keypair.private_key, mask_bits=gradient.mask_bits
        )
        assert all(abs(m) <= b for m, b in zip(mantissas, bounds))
        if row == 10:
            assert mantissas[10] == bounds[10]


def test_a_shard_with_another_feature_count_is_refused(
    model: EncryptedModel, diabetes_split: diabetes.Split
) -> None:
    shard = diabetes_split.shards[0]
    statistics = ShardStatistics.from_data(shard.features[:, :9], shard.targets)

    with pytest.raises(ShapeMismatch) as raised:
        encrypted_gradient(model, statistics, model_id=MODEL_ID)

    assert (raised.value.what, raised.value.expected, raised.value.found) == (
        "feature count",
        10,
        9,
    )


def test_statistics_refuse_non_finite_data(diabetes_split: diabetes.Split) -> None:
    shard = diabetes_split.shards[0]
    targets = shard.targets.copy()
    targets[3] = np.nan

    with pytest.raises(NonFiniteInput) as raised:
        ShardStatistics.from_data(shard.features, targets)

    assert (raised.value.what, raised.value.count) == ("targets", 1)


def test_statistics_refuse_an_empty_shard() -> None:
    with pytest.raises(ShapeMismatch, match="row count"):
        ShardStatistics.from_data(np.zeros((0, 10)), np.zeros(0))


def test_statistics_are_read_only_and_encoded_once(diabetes_split: diabetes.Split) -> None:
    shard = diabetes_split.shards[0]

    statistics = ShardStatistics.from_data(shard.features, shard.targets)

    assert not statistics.gram.flags.writeable and not statistics.moment.flags.writeable
    assert statistics.row_count == 44 and statistics.feature_count == 10
    # The bias column makes A's largest entry 1 (the mean of 1 * 1).
    assert statistics.gram[10, 10] == 1.0
    step = 16.0**statistics.gram_exponent
    decoded = np.array(statistics.gram_mantissas, dtype=float) * step
    assert np.max(np.abs(decoded - statistics.gram)) <= step / 2


@pytest.mark.parametrize("model_id", [-1, 2**53, True])
def test_the_model_id_must_be_a_safe_non_negative_integer(
    model: EncryptedModel, diabetes_split: diabetes.Split, model_id: int
) -> None:
    shard = diabetes_split.shards[0]
    statistics = ShardStatistics.from_data(shard.features, shard.targets)

    with pytest.raises(ValueError, match="model id must be an integer"):
        encrypted_gradient(model, statistics, model_id=model_id)  # type: ignore[arg-type]
