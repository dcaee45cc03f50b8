"""Encrypted vectors: encryption, decryption, linear maps, sums, obfuscation, and their refusals."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pysonar.crypto.encrypted_vector import (
    HEADROOM_BITS,
    EncryptedVector,
    decrypt_mantissas,
    decrypt_vector,
    encrypt_vector,
    linear_map,
    plaintext_limit,
    weighted_sum,
)
from pysonar.crypto.keys import KeyPair, key_fingerprint
from pysonar.crypto.obfuscation import ObfuscationPool
from pysonar.errors import (
    DecryptionOverflow,
    KeyMismatch,
    OverflowRiskError,
    ShapeMismatch,
    ValueBeyondFloatRange,
)


def test_values_round_trip_at_a_shared_exponent(keypair: KeyPair) -> None:
    values = [0.0, -1.25, 3.5e-9, 123456.75, -(2.0**-40)]

    vector = encrypt_vector(values, keypair.public_key, exponent=-20)

    assert vector.exponent == -20 and vector.obfuscated
    np.testing.assert_array_equal(decrypt_vector(vector, keypair.private_key), values)


def test_fresh_encryptions_of_equal_values_differ(keypair: KeyPair) -> None:
    first = encrypt_vector([1.0, 1.0], keypair.public_key, exponent=0)
    second = encrypt_vector([1.0], keypair.public_key, exponent=0)

    assert len({*first.ciphertexts, *second.ciphertexts}) == 3


def test_encrypting_a_mantissa_beyond_the_limit_is_refused(keypair: KeyPair) -> None:
    limit = plaintext_limit(keypair.public_key)

    with pytest.raises(OverflowRiskError) as raised:
        encrypt_vector([1.0, float(limit) * 4], keypair.public_key, exponent=0)

    assert raised.value.limit == limit == keypair.public_key.max_int >> HEADROOM_BITS
    assert raised.value.bound > limit


def test_a_linear_map_computes_the_exact_integer_result(keypair: KeyPair) -> None:
    rng = random.Random(3)
    values = [rng.randint(-(10**6), 10**6) for _ in range(4)]
    matrix = [[rng.randint(-(2**70), 2**70) for _ in range(4)] for _ in range(3)]
    matrix[1][2] = 0
    offset = [rng.randint(-(2**90), 2**90) for _ in range(3)]

    result = linear_map(
        encrypt_vector(values, keypair.public_key, exponent=-2),
        matrix,
        matrix_exponent=-5,
        offset=offset,
    )

    # The values were encoded at exponent -2: their mantissas are value * 16**2.
    expected = [sum(m * v * 256 for m, v in zip(row, values)) + c for row, c in zip(matrix, offset)]
    assert decrypt_mantissas(result, keypair.private_key) == expected
    assert result.exponent == -7


def test_arithmetic_results_are_flagged_and_obfuscation_changes_every_ciphertext(
    keypair: KeyPair,
) -> None:
    bare = linear_map(
        encrypt_vector([2.0, -3.0], keypair.public_key, exponent=0),
        [[1, 1], [2, -1], [0, 5]],
        matrix_exponent=0,
    )
    pool = ObfuscationPool(keypair.public_key)
    pool.fill(3)

    hidden = bare.obfuscate(pool)

    assert not bare.obfuscated and hidden.obfuscated
    assert all(a != b for a, b in zip(bare.ciphertexts, hidden.ciphertexts))
    assert len(pool) == 0
    assert decrypt_mantissas(hidden, keypair.private_key) == [-1, 7, -15]
    assert decrypt_mantissas(bare, keypair.private_key) == [-1, 7, -15]


def test_obfuscation_refuses_a_pool_for_another_key(
    keypair: KeyPair, other_keypair: KeyPair
) -> None:
    vector = encrypt_vector([1.0], keypair.public_key, exponent=0)

    with pytest.raises(KeyMismatch) as raised:
        vector.obfuscate(ObfuscationPool(other_keypair.public_key))

    assert raised.value.expected == key_fingerprint(keypair.public_key)
    assert raised.value.found == key_fingerprint(other_keypair.public_key)


def test_a_linear_map_refuses_rows_of_the_wrong_length(keypair: KeyPair) -> None:
    vector = encrypt_vector([1.0, 2.0], keypair.public_key, exponent=0)

    with pytest.raises(ShapeMismatch) as raised:
        linear_map(vector, [[1, 2], [1, 2, 3]], matrix_exponent=0)

    assert (raised.value.what, raised.value.expected, raised.value.found) == (
        "matrix row 1 length",
        2,
        3,
    )


def test_a_weighted_sum_aligns_exponents_and_applies_weights(keypair: KeyPair) -> None:
    coarse = encrypt_vector([1.5, -2.0], keypair.public_key, exponent=-3)
    fine = encrypt_vector([0.125, 4.0], keypair.public_key, exponent=-5)

    total = weighted_sum([coarse, fine], [2, 3])

    assert total.exponent == -5 and not total.obfuscated
    np.testing.assert_array_equal(decrypt_vector(total, keypair.private_key), [3.375, 8.0])


def test_a_weighted_sum_refuses_vectors_under_different_keys(
    keypair: KeyPair, other_keypair: KeyPair
) -> None:
    with pytest.raises(KeyMismatch):
        weighted_sum(
            [
                encrypt_vector([1.0], keypair.public_key, exponent=0),
                encrypt_vector([1.0], other_keypair.public_key, exponent=0),
            ]
        )


def test_a_weighted_sum_refuses_vectors_of_different_lengths(keypair: KeyPair) -> None:
    with pytest.raises(ShapeMismatch):
        weighted_sum(
            [
                encrypt_vector([1.0], keypair.public_key, exponent=0),
                encrypt_vector([1.0, 2.0], keypair.public_key, exponent=0),
            ]
        )


def test_a_weighted_sum_refuses_a_total_scale_beyond_the_headroom(keypair: KeyPair) -> None:
    vector = encrypt_vector([1.0], keypair.public_key, exponent=0)

    with pytest.raises(OverflowRiskError) as raised:
        weighted_sum([vector, vector], [2**HEADROOM_BITS, 1])

    assert raised.value.limit == keypair.public_key.max_int
    assert raised.value.bound > raised.value.limit


@pytest.mark.parametrize("weights", [[0], [-1], [True], [1.5]])
def test_a_weighted_sum_refuses_weights_that_are_not_positive_integers(
    keypair: KeyPair, weights: list[object]
) -> None:
    vector = encrypt_vector([1.0], keypair.public_key, exponent=0)

    with pytest.raises(ValueError, match="weights must be positive integers"):
        weighted_sum([vector], weights)  # type: ignore[arg-type]


def test_decrypting_with_another_private_key_is_refused(
    keypair: KeyPair, other_keypair: KeyPair
) -> None:
    vector = encrypt_vector([1.0], keypair.public_key, exponent=0)

    with pytest.raises(KeyMismatch):
        decrypt_vector(vector, other_keypair.private_key)


def test_a_plaintext_in_the_overflow_band_is_reported_not_decoded(keypair: KeyPair) -> None:
    public_key = keypair.public_key
    vector = EncryptedVector(
        public_key,
        (public_key.raw_encrypt(5), public_key.raw_encrypt(public_key.n // 2)),
        0,
        True,
    )

    with pytest.raises(DecryptionOverflow) as raised:
        decrypt_vector(vector, keypair.private_key)

    assert raised.value.index == 1


def test_a_value_beyond_the_float_range_is_reported_as_the_projects_error(
    keypair: KeyPair,
) -> None:
    # A well-formed vector whose exponent puts a small mantissa past float64 (about 16**256):
    # what a hostile object with a large exponent decrypts to.
    public_key = keypair.public_key
    vector = EncryptedVector(
        public_key, (public_key.raw_encrypt(1), public_key.raw_encrypt(2)), 300, True
    )

    with pytest.raises(ValueBeyondFloatRange) as raised:
        decrypt_vector(vector, keypair.private_key)

    assert raised.value.index == 0
    assert isinstance(raised.value, OverflowError), "still an OverflowError for old callers"
