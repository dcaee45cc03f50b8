"""A mine's gradient reveals no more than the gradient, whatever weights the key holder hid.

The packing attack: a data scientist publishes a model whose encrypted weights break its
declared bound, weight j = 2**(160 + 80 j) as a plaintext mantissa, at the exponent the
bound implies (so every public check passes). Without the mask, one honest gradient then
carries every entry of the mine's X^T X / n in its own 80-bit slot, and X^T y / n below:
the mine's whole least-squares problem in one round. These tests run the attack against
`encrypted_gradient` as a mine calls it.
"""

from __future__ import annotations

import numpy as np
import pytest
from phe.paillier import PaillierPublicKey

from pysonar import diabetes
from pysonar.crypto.encrypted_vector import EncryptedVector
from pysonar.crypto.keys import KeyPair
from pysonar.errors import ModelMismatch, OverflowRiskError
from pysonar.model.aggregation import decrypt_gradient
from pysonar.model.encrypted_model import EncryptedModel, encrypt_model, weight_exponent
from pysonar.model.gradient import (
    MASK_MARGIN_BITS,
    ShardStatistics,
    encrypted_gradient,
    encrypted_gradient_row_by_row,
    mask_bits_for,
)
from pysonar.model.linear_regression import plaintext_gradient
from sonar.units import ModelId

WEIGHT_BOUND = 2.0**20
SLOT_BITS = 80
FIRST_SLOT = 160


def packing_model(public_key: PaillierPublicKey, feature_count: int) -> EncryptedModel:
    """The attacker's model: mantissa 2**(160 + 80 j) for weight j, far beyond the bound."""
    mantissas = [1 << (FIRST_SLOT + SLOT_BITS * j) for j in range(feature_count + 1)]
    weights = EncryptedVector(
        public_key,
        tuple(public_key.raw_encrypt(m) for m in mantissas),
        weight_exponent(WEIGHT_BOUND),
        obfuscated=True,
    )
    return EncryptedModel(
        weights=weights,
        feature_count=feature_count,
        weight_bound=WEIGHT_BOUND,
        learning_rate=0.5,
        model_version=0,
    )


def unpack(plaintext: int, n: int, columns: int) -> tuple[int, list[int]]:
    """What the attacker reads from one decrypted component: -c below bit 160, then one
    signed gram mantissa per 80-bit slot."""
    value = plaintext - n if plaintext > n // 2 else plaintext
    low = _centred(value, FIRST_SLOT)
    value = (value - low) >> FIRST_SLOT
    entries = []
    for _ in range(columns):
        entry = _centred(value, SLOT_BITS)
        entries.append(entry)
        value = (value - entry) >> SLOT_BITS
    return low, entries


def _centred(value: int, bits: int) -> int:
    residue = value % (1 << bits)
    return residue - (1 << bits) if residue >= 1 << (bits - 1) else residue


@pytest.fixture(scope="module")
def shard(diabetes_split: diabetes.Split) -> diabetes.Shard:
    return diabetes_split.shards[0]


@pytest.fixture(scope="module")
def statistics(shard: diabetes.Shard) -> ShardStatistics:
    return ShardStatistics.from_data(shard.features, shard.targets)


def test_unmasked_the_packing_attack_recovers_the_mines_whole_gram_matrix(
    keypair_2048: KeyPair, statistics: ShardStatistics
) -> None:
    # The attack is real: this is what the mask takes away.
    keys = keypair_2048
    model = packing_model(keys.public_key, statistics.feature_count)
    gradient = encrypted_gradient(model, statistics, model_id=ModelId(0), mask=False)

    columns = statistics.feature_count + 1
    recovered = [
        unpack(keys.private_key.raw_decrypt(c), keys.public_key.n, columns)[1]
        for c in gradient.values.ciphertexts
    ]
    assert recovered == [list(row) for row in statistics.gram_mantissas]


def test_masked_the_packing_attack_recovers_nothing_of_the_gram_matrix(
    keypair_2048: KeyPair, statistics: ShardStatistics
) -> None:
    keys = keypair_2048
    model = packing_model(keys.public_key, statistics.feature_count)
    columns = statistics.feature_count + 1
    truth = np.array(statistics.gram_mantissas, dtype=object)

    runs = []
    for _ in range(2):
        gradient = encrypted_gradient(model, statistics, model_id=ModelId(0))
        assert gradient.mask_bits < FIRST_SLOT  # every slot lies above the mask's bit T
        runs.append(
            [
                unpack(keys.private_key.raw_decrypt(c), keys.public_key.n, columns)[1]
                for c in gradient.values.ciphertexts
            ]
        )
    for run in runs:
        matches = sum(a == b for a, b in zip(np.ravel(run), np.ravel(truth)))
        assert matches <= 1, f"{matches} of {truth.size} gram entries recovered"
        # What the slots hold is the mask: uniform over 80 bits, not entries below 2**70.
        assert max(abs(e) for e in np.ravel(run)) > 2**75
    assert runs[0] != runs[1], "fresh masks every time"


def test_masked_the_protocol_reads_only_what_the_zero_model_would_give(
    keypair_2048: KeyPair, statistics: ShardStatistics, shard: diabetes.Shard
) -> None:
    # Reduced modulo 2**T, the attacker's gradient is -X^T y / n: the honest gradient of
    # the all-zero model, which any data scientist may legitimately ask for.
    keys = keypair_2048
    model = packing_model(keys.public_key, statistics.feature_count)
    gradient = encrypted_gradient(model, statistics, model_id=ModelId(0))

    found = decrypt_gradient(gradient, keys.private_key)
    zero_weights = np.zeros(statistics.feature_count + 1)
    expected = plaintext_gradient(zero_weights, shard.features, shard.targets)
    np.testing.assert_allclose(found, expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize("method", ["statistics", "row_by_row"])
def test_honest_masked_gradients_decrypt_to_numpys_to_1e_9(
    keypair: KeyPair,
    weights: np.ndarray,
    shard: diabetes.Shard,
    statistics: ShardStatistics,
    method: str,
) -> None:
    model = encrypt_model(weights, keypair.public_key, weight_bound=WEIGHT_BOUND, learning_rate=0.5)
    if method == "statistics":
        gradient = encrypted_gradient(model, statistics, model_id=ModelId(3))
    else:
        gradient = encrypted_gradient_row_by_row(
            model, shard.features, shard.targets, model_id=ModelId(3)
        )
    assert gradient.mask_bits > 0
    found = decrypt_gradient(gradient, keypair.private_key)
    expected = plaintext_gradient(weights, shard.features, shard.targets)
    assert np.max(np.abs(found - expected) / np.maximum(np.abs(expected), 1e-300)) <= 1e-9
    # The raw plaintexts are masked: far above the honest values' T bits.
    raw = [keypair.private_key.raw_decrypt(c) for c in gradient.values.ciphertexts]
    assert all(value.bit_length() > gradient.mask_bits + 100 for value in raw)


def test_a_model_whose_exponent_is_not_its_bounds_is_refused(
    keypair: KeyPair, weights: np.ndarray, statistics: ShardStatistics
) -> None:
    honest = encrypt_model(
        weights, keypair.public_key, weight_bound=WEIGHT_BOUND, learning_rate=0.5
    )
    # The same bound declared over a finer exponent: each mantissa unit is worth less, so
    # weights far beyond the bound would pass the mantissa range check.
    finer = EncryptedVector(
        keypair.public_key,
        honest.weights.ciphertexts,
        honest.weights.exponent - 8,
        obfuscated=True,
    )
    dishonest = EncryptedModel(
        weights=finer,
        feature_count=honest.feature_count,
        weight_bound=WEIGHT_BOUND,
        learning_rate=0.5,
        model_version=0,
    )
    with pytest.raises(ModelMismatch, match="weight exponent"):
        encrypted_gradient(dishonest, statistics, model_id=ModelId(0))


def test_a_key_without_room_for_the_masks_margin_is_refused(keypair: KeyPair) -> None:
    n_bits = keypair.public_key.n.bit_length()
    fits = (1 << (n_bits - 2 - MASK_MARGIN_BITS)) - 1  # T = bitlength + 1 = the largest allowed
    assert mask_bits_for([fits], keypair.public_key) == n_bits - 1 - MASK_MARGIN_BITS
    with pytest.raises(OverflowRiskError, match="the mask needs 80 bits"):
        mask_bits_for([fits * 2 + 1], keypair.public_key)
