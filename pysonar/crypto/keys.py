"""Paillier key pairs: generation (seedable for tests), fingerprints and the public key's JSON.

Keys are python-paillier (`phe`) objects, so `phe`'s arithmetic and decryption apply
directly. phe fixes the generator g = n + 1, so a public key is just its modulus n.

Generation picks two primes of exactly half the size with gmpy2's `next_prime` (as `phe`
itself does), from a random source the caller may seed: seeded keys are reproducible and
therefore only for tests and demos, never for a real model.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass
from typing import TypedDict

import gmpy2
from phe.paillier import PaillierPrivateKey, PaillierPublicKey

from pysonar.errors import UnsupportedKeySize, ValueOutOfRange
from pysonar.formats.strict_json import expect_decimal, expect_int, expect_object, is_integer

# 1024 bits is below current recommendations (NIST SP 800-57: 2048 until 2030): generation
# and the formats allow it so tests stay fast, but readers refuse it unless asked to accept it.
SUPPORTED_KEY_BITS: tuple[int, ...] = (1024, 2048, 3072)
TRUSTED_KEY_BITS: tuple[int, ...] = (2048, 3072)
DEFAULT_KEY_BITS = 2048


@dataclass(frozen=True)
class KeyPair:
    """A data scientist's Paillier keys; only `public_key` ever leaves their machine."""

    public_key: PaillierPublicKey
    private_key: PaillierPrivateKey


class PublicKeyJson(TypedDict):
    """A public key as it appears in JSON objects: n as a decimal string, and its size."""

    n: str
    key_bits: int


def generate_keypair(bits: int = DEFAULT_KEY_BITS, *, rng: random.Random | None = None) -> KeyPair:
    """Generate a Paillier key pair whose modulus n has exactly `bits` bits.

    Parameters:
        bits: the modulus size, one of `SUPPORTED_KEY_BITS`.
        rng: the random source for the primes. Leave it None (the operating system's
            CSPRNG) for any real key; pass `random.Random(seed)` for a reproducible test key.

    Returns:
        The key pair.

    Raises:
        UnsupportedKeySize: `bits` is not in `SUPPORTED_KEY_BITS`.
    """
    if not is_integer(bits) or bits not in SUPPORTED_KEY_BITS:
        raise UnsupportedKeySize(bits=bits, supported=SUPPORTED_KEY_BITS)
    source = rng if rng is not None else secrets.SystemRandom()
    p = _random_prime(bits // 2, source)
    q = _random_prime(bits // 2, source)
    while q == p:
        q = _random_prime(bits // 2, source)
    public_key = PaillierPublicKey(p * q)
    return KeyPair(public_key=public_key, private_key=PaillierPrivateKey(public_key, p, q))


def _random_prime(bits: int, source: random.Random) -> int:
    # The two top bits set make the product of two such primes exactly 2 * bits long.
    while True:
        candidate = source.getrandbits(bits) | (0b11 << (bits - 2)) | 1
        prime = int(gmpy2.next_prime(candidate))
        if prime.bit_length() == bits:
            return prime


def key_fingerprint(public_key: PaillierPublicKey) -> str:
    """Return the SHA-256 of n's minimal big-endian bytes, as 64 lowercase hex digits.

    A gradient names the key it was computed under by this fingerprint.
    """
    n = public_key.n
    return hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()


def public_key_to_json(public_key: PaillierPublicKey) -> PublicKeyJson:
    """Return the JSON form of `public_key`: `{"n": "<decimal>", "key_bits": <int>}`."""
    return {"n": str(public_key.n), "key_bits": public_key.n.bit_length()}


def public_key_from_json(
    value: object,
    *,
    path: str = "public_key",
    accepted_bits: tuple[int, ...] = TRUSTED_KEY_BITS,
) -> PaillierPublicKey:
    """Validate the JSON form of a public key and return the key.

    Parameters:
        value: the parsed JSON value.
        path: where `value` sits in its object, for error messages.
        accepted_bits: the key sizes to accept; `TRUSTED_KEY_BITS` unless testing.

    Returns:
        The public key.

    Raises:
        SchemaViolation: wrong keys or types.
        ValueOutOfRange: a key size not accepted, an n whose size differs from `key_bits`,
            or an even n (a Paillier modulus is a product of two odd primes).
    """
    fields = expect_object(value, path, ("n", "key_bits"))
    key_bits = expect_int(
        fields["key_bits"], f"{path}.key_bits", minimum=0, maximum=max(SUPPORTED_KEY_BITS)
    )
    if key_bits not in accepted_bits:
        raise ValueOutOfRange(
            path=f"{path}.key_bits", expected=f"one of {list(accepted_bits)}", found=str(key_bits)
        )
    # A key_bits-bit number has at most this many decimal digits (log10(2) < 0.30103).
    n = expect_decimal(fields["n"], f"{path}.n", max_digits=key_bits * 30103 // 100000 + 1)
    if n.bit_length() != key_bits:
        raise ValueOutOfRange(
            path=f"{path}.n",
            expected=f"a {key_bits}-bit modulus",
            found=f"a {n.bit_length()}-bit number",
        )
    if n % 2 == 0:
        raise ValueOutOfRange(path=f"{path}.n", expected="an odd modulus", found="an even number")
    return PaillierPublicKey(n)
