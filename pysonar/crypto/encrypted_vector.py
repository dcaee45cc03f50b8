"""Vectors of Paillier ciphertexts sharing one fixed-point exponent, and their arithmetic.

An `EncryptedVector` holds the raw ciphertext integers of a vector encoded with one shared
exponent (see `pysonar.crypto.fixed_point`). Arithmetic works on those integers with gmpy2
directly rather than through phe's `EncryptedNumber` objects: a linear map by an integer
matrix is one modular exponentiation per nonzero entry, with the modular inverse of each
input ciphertext computed once (phe inverts again for every negative scalar).

Results of arithmetic are flagged as not obfuscated; `obfuscated` re-randomises them, and
the IPFS writers refuse vectors that were never re-randomised.

Magnitudes: Paillier plaintexts live modulo n. Following phe, a plaintext m means m when
m <= max_int (n // 3 - 1), m - n when m >= n - max_int, and overflow in between. Mantissas
beyond +/-`plaintext_limit` are refused before any arithmetic, keeping `HEADROOM_BITS` spare
so that sums of many in-range vectors cannot wrap around either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2
import numpy as np
from phe.paillier import PaillierPrivateKey, PaillierPublicKey

from pysonar.crypto import fixed_point
from pysonar.crypto.keys import key_fingerprint
from pysonar.crypto.obfuscation import ObfuscationPool, fresh_factor
from pysonar.errors import (
    DecryptionOverflow,
    KeyMismatch,
    OverflowRiskError,
    ShapeMismatch,
    ValueBeyondFloatRange,
)
from pysonar.formats.strict_json import is_integer

# Bits kept free below phe's max_int: a weighted sum of in-range vectors whose total weight
# (see `weighted_sum`) is at most 2**HEADROOM_BITS stays within max_int.
HEADROOM_BITS = 64


def plaintext_limit(public_key: PaillierPublicKey) -> int:
    """Return the largest mantissa magnitude any single vector may carry under `public_key`."""
    return public_key.max_int >> HEADROOM_BITS


@dataclass(frozen=True)
class EncryptedVector:
    """Ciphertexts of a vector's mantissas under one key, with their shared exponent.

    Attributes:
        public_key: the key the ciphertexts are under.
        ciphertexts: one integer in [1, n**2) per component.
        exponent: the shared fixed-point exponent (value = mantissa * 16**exponent).
        obfuscated: whether every ciphertext was freshly randomised since the last
            arithmetic on it (always true for fresh encryptions and for vectors read from
            IPFS, false for results of arithmetic).
    """

    public_key: PaillierPublicKey
    ciphertexts: tuple[int, ...]
    exponent: int
    obfuscated: bool

    def __len__(self) -> int:
        return len(self.ciphertexts)

    def obfuscate(self, pool: ObfuscationPool | None = None) -> EncryptedVector:
        """Return this vector with every ciphertext re-randomised by a fresh r**n factor.

        Parameters:
            pool: where to take precomputed factors from; None computes them now.

        Raises:
            KeyMismatch: `pool` holds factors for another key.
        """
        if pool is not None:
            _same_key(self.public_key, pool.public_key)
        nsquare = gmpy2.mpz(self.public_key.nsquare)
        ciphertexts = []
        for ciphertext in self.ciphertexts:
            factor = pool.take() if pool is not None else fresh_factor(self.public_key)
            ciphertexts.append(int(gmpy2.mpz(ciphertext) * factor % nsquare))
        return EncryptedVector(self.public_key, tuple(ciphertexts), self.exponent, True)


def encrypt_vector(
    values: Sequence[float] | np.ndarray,
    public_key: PaillierPublicKey,
    *,
    exponent: int,
    pool: ObfuscationPool | None = None,
) -> EncryptedVector:
    """Encode `values` with one shared `exponent` and encrypt each mantissa.

    Parameters:
        values: finite real numbers.
        public_key: the key to encrypt under.
        exponent: the shared fixed-point exponent.
        pool: precomputed randomness; None computes it now.

    Returns:
        A fresh (obfuscated) encrypted vector.

    Raises:
        OverflowRiskError: a mantissa exceeds `plaintext_limit(public_key)`.
        ValueError: a value is not finite.
    """
    mantissas = fixed_point.encode(values, exponent)
    limit = plaintext_limit(public_key)
    largest = max((abs(m) for m in mantissas), default=0)
    if largest > limit:
        raise OverflowRiskError(
            bound=largest, limit=limit, details=f"encrypting values at exponent {exponent}"
        )
    n = public_key.n
    bare = EncryptedVector(
        public_key,
        tuple((1 + n * (m % n)) % public_key.nsquare for m in mantissas),
        exponent,
        False,
    )
    return bare.obfuscate(pool)


def decrypt_mantissas(
    vector: EncryptedVector, private_key: PaillierPrivateKey, *, mask_bits: int = 0
) -> list[int]:
    """Decrypt `vector` to its signed integer mantissas.

    Parameters:
        vector: the ciphertexts.
        private_key: the key they are under.
        mask_bits: T > 0 if each plaintext is m + 2**(T-1) + 2**T r, a mantissa |m| < 2**(T-1)
            masked by its sender above bit T (`pysonar.model.gradient`): the mantissa is then
            the plaintext modulo 2**T, less 2**(T-1). 0 for plain mantissas.

    Raises:
        KeyMismatch: `private_key` does not belong to the vector's key.
        DecryptionOverflow: a plaintext lies in the overflow band (unmasked vectors only).
    """
    public_key = vector.public_key
    _same_key(private_key.public_key, public_key)
    n, max_int = public_key.n, public_key.max_int
    if mask_bits:
        low, half = (1 << mask_bits) - 1, 1 << (mask_bits - 1)
        return [(private_key.raw_decrypt(c) & low) - half for c in vector.ciphertexts]
    mantissas = []
    for index, ciphertext in enumerate(vector.ciphertexts):
        plaintext = private_key.raw_decrypt(ciphertext)
        if plaintext <= max_int:
            mantissas.append(plaintext)
        elif plaintext >= n - max_int:
            mantissas.append(plaintext - n)
        else:
            raise DecryptionOverflow(index=index)
    return mantissas


def decrypt_vector(
    vector: EncryptedVector, private_key: PaillierPrivateKey, *, mask_bits: int = 0
) -> np.ndarray:
    """Decrypt and decode `vector` to float64 values (`mask_bits` as `decrypt_mantissas`).

    Raises:
        KeyMismatch: `private_key` does not belong to the vector's key.
        DecryptionOverflow: a plaintext lies in the overflow band (unmasked vectors only).
        ValueBeyondFloatRange: a value is beyond float64 (the exponent is too large).
    """
    mantissas = decrypt_mantissas(vector, private_key, mask_bits=mask_bits)
    values = np.empty(len(mantissas), dtype=np.float64)
    for index, mantissa in enumerate(mantissas):
        try:
            values[index] = fixed_point.decode(mantissa, vector.exponent)
        except OverflowError:
            raise ValueBeyondFloatRange(index=index) from None
    return values


def linear_map(
    vector: EncryptedVector,
    matrix: Sequence[Sequence[int]],
    *,
    matrix_exponent: int,
    offset: Sequence[int] | None = None,
) -> EncryptedVector:
    """Return Enc(M v + offset) from Enc(v), for an integer mantissa matrix M.

    The result's exponent is `vector.exponent + matrix_exponent`, and `offset` holds
    mantissas at that exponent. No alignment happens anywhere. The caller is responsible
    for bounding the result (the guards in `pysonar.model.gradient` do); the result is NOT
    obfuscated.

    Parameters:
        vector: Enc(v), of length k.
        matrix: rows of k signed integer mantissas.
        matrix_exponent: the exponent shared by the matrix's entries.
        offset: one signed mantissa per row to add, or None.

    Returns:
        One ciphertext per row of `matrix`, not obfuscated.

    Raises:
        ShapeMismatch: a row's length differs from the vector's, or `offset`'s from the
            number of rows.
    """
    if offset is not None and len(offset) != len(matrix):
        raise ShapeMismatch(what="offset length", expected=len(matrix), found=len(offset))
    public_key = vector.public_key
    n = gmpy2.mpz(public_key.n)
    nsquare = gmpy2.mpz(public_key.nsquare)
    bases = [gmpy2.mpz(c) for c in vector.ciphertexts]
    inverses: dict[int, gmpy2.mpz] = {}
    rows = []
    for row_index, row in enumerate(matrix):
        if len(row) != len(bases):
            raise ShapeMismatch(
                what=f"matrix row {row_index} length", expected=len(bases), found=len(row)
            )
        accumulator = gmpy2.mpz(1)
        for column, scalar in enumerate(row):
            if scalar > 0:
                term = gmpy2.powmod(bases[column], scalar, nsquare)
            elif scalar < 0:
                # c**(-a) = (c**-1)**a: one inversion per column, not one per entry.
                if column not in inverses:
                    inverses[column] = gmpy2.invert(bases[column], nsquare)
                term = gmpy2.powmod(inverses[column], -scalar, nsquare)
            else:
                continue
            accumulator = accumulator * term % nsquare
        if offset is not None and offset[row_index]:
            # (n + 1)**m = 1 + m n (mod n**2): adding a known plaintext costs one product.
            accumulator = accumulator * (1 + n * (offset[row_index] % n)) % nsquare
        rows.append(int(accumulator))
    return EncryptedVector(public_key, tuple(rows), vector.exponent + matrix_exponent, False)


def weighted_sum(
    vectors: Sequence[EncryptedVector], weights: Sequence[int] | None = None
) -> EncryptedVector:
    """Return Enc(sum_k weights[k] * v_k) from the Enc(v_k), aligning exponents once each.

    Each vector is raised to weights[k] * 16**(its exponent - the smallest exponent), one
    exponentiation by a small integer, so vectors with different exponents add exactly.

    Parameters:
        vectors: at least one vector, all under one key and of one length.
        weights: one positive integer per vector; None means all 1.

    Returns:
        The sum at the smallest exponent, not obfuscated.

    Raises:
        ValueError: no vectors, or a weight that is not a positive integer.
        KeyMismatch: vectors under different keys.
        ShapeMismatch: vectors of different lengths, or a weight count that differs.
        OverflowRiskError: the total scaling could carry in-range vectors past max_int.
    """
    if not vectors:
        raise ValueError("weighted_sum needs at least one vector")
    if weights is None:
        weights = [1] * len(vectors)
    if len(weights) != len(vectors):
        raise ShapeMismatch(what="weight count", expected=len(vectors), found=len(weights))
    if any(not is_integer(w) or w < 1 for w in weights):
        raise ValueError(f"weights must be positive integers, not {list(weights)}")
    first = vectors[0]
    for vector in vectors[1:]:
        _same_key(first.public_key, vector.public_key)
        if len(vector) != len(first):
            raise ShapeMismatch(what="vector length", expected=len(first), found=len(vector))
    exponent = min(v.exponent for v in vectors)
    scales = [w * fixed_point.BASE ** (v.exponent - exponent) for v, w in zip(vectors, weights)]
    # Each vector is within plaintext_limit = max_int >> HEADROOM_BITS, so the sum of the
    # scaled vectors is within max_int while the scales add up to at most 2**HEADROOM_BITS.
    total_scale = sum(scales)
    if total_scale > 2**HEADROOM_BITS:
        limit = plaintext_limit(first.public_key)
        raise OverflowRiskError(
            bound=total_scale * limit,
            limit=first.public_key.max_int,
            details=f"summing {len(vectors)} vectors with total scale {total_scale}",
        )
    nsquare = gmpy2.mpz(first.public_key.nsquare)
    sums = []
    for column in range(len(first)):
        accumulator = gmpy2.mpz(1)
        for vector, scale in zip(vectors, scales):
            term = gmpy2.mpz(vector.ciphertexts[column])
            if scale != 1:
                term = gmpy2.powmod(term, scale, nsquare)
            accumulator = accumulator * term % nsquare
        sums.append(int(accumulator))
    return EncryptedVector(first.public_key, tuple(sums), exponent, False)


def _same_key(expected: PaillierPublicKey, found: PaillierPublicKey) -> None:
    if expected.n != found.n:
        raise KeyMismatch(
            what="Paillier key", expected=key_fingerprint(expected), found=key_fingerprint(found)
        )
