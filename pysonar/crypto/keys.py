"""Paillier key pairs: generation (seedable for tests), the key pair's private file,
fingerprints and the public key's JSON.

Keys are python-paillier (`phe`) objects, so `phe`'s arithmetic and decryption apply
directly. phe fixes the generator g = n + 1, so a public key is just its modulus n.

A key pair is saved as a small JSON file (never a pickle: loading one runs code), mode 0600
from the moment it exists, and checked on loading before anything is built from it:

    {"format": "hydrogen/paillier-key-pair/1", "n": "<decimal>", "p": "<decimal>", "q": "<decimal>"}

A data scientist whose private key is lost can no longer read the gradients of its model,
so the file is written atomically and `load_or_create_keypair` never replaces one.

Generation picks two primes of exactly half the size with gmpy2's `next_prime` (as `phe`
itself does), from a random source the caller may seed: seeded keys are reproducible and
therefore only for tests and demos, never for a real model.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import gmpy2
from phe.paillier import PaillierPrivateKey, PaillierPublicKey

from pysonar.errors import (
    InvalidObject,
    KeyFileError,
    UnsupportedFormat,
    UnsupportedKeySize,
    ValueOutOfRange,
)
from pysonar.formats.strict_json import (
    expect_decimal,
    expect_int,
    expect_object,
    is_integer,
    parse_object,
)
from pysonar.private_file import read_private_file, write_private_file

# 1024 bits is below current recommendations (NIST SP 800-57: 2048 until 2030): generation
# and the formats allow it so tests stay fast, but readers refuse it unless asked to accept it.
SUPPORTED_KEY_BITS: tuple[int, ...] = (1024, 2048, 3072)
TRUSTED_KEY_BITS: tuple[int, ...] = (2048, 3072)
DEFAULT_KEY_BITS = 2048

KEY_PAIR_FORMAT = "hydrogen/paillier-key-pair/1"
# A 3072-bit key pair's file has about 1,900 bytes.
MAX_KEY_FILE_BYTES = 16 * 1024


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


def save_keypair(keys: KeyPair, path: Path) -> None:
    """Write `keys` to `path` as JSON, atomically, readable by its owner only (mode 0600).

    An existing file is replaced; see `load_or_create_keypair` to keep one.

    Raises:
        OSError: the directory is missing or not writable, the disk is full, ...
    """
    write_private_file(path, _key_file_bytes(keys))


def load_keypair(path: Path) -> KeyPair:
    """Read and check a key pair written by `save_keypair`.

    Returns:
        The key pair, whose modulus has one of the `SUPPORTED_KEY_BITS` sizes.

    Raises:
        KeyFileError: the file cannot be read, group or others may read it, it is larger
            than `MAX_KEY_FILE_BYTES`, it is not strict JSON of the key pair format, or its
            numbers are not a key pair (p * q is not n, p or q not prime or equal, a size
            not supported).
    """
    data = read_private_file(path, max_bytes=MAX_KEY_FILE_BYTES, error=KeyFileError)
    try:
        body = parse_object(data, kind="key pair", max_bytes=MAX_KEY_FILE_BYTES)
        if body.get("format") != KEY_PAIR_FORMAT:
            # Checked first: another format's keys say nothing about this one's.
            raise UnsupportedFormat(
                path="format",
                expected=repr(KEY_PAIR_FORMAT),
                found=repr(body["format"])[:80] if "format" in body else "nothing",
            )
        fields = expect_object(body, "$", ("format", "n", "p", "q"))
        # The longest modulus has this many decimal digits (log10(2) < 0.30103).
        max_digits = max(SUPPORTED_KEY_BITS) * 30103 // 100000 + 1
        n, p, q = (expect_decimal(fields[name], name, max_digits=max_digits) for name in "npq")
    except InvalidObject as error:
        raise KeyFileError(path, str(error)) from error
    if n.bit_length() not in SUPPORTED_KEY_BITS:
        raise KeyFileError(
            path,
            f"n has {n.bit_length()} bits; supported key sizes are {list(SUPPORTED_KEY_BITS)}",
        )
    if p * q != n:
        raise KeyFileError(path, "p * q is not n: the key pair was altered or mixed up")
    if p == q or not (gmpy2.is_prime(p) and gmpy2.is_prime(q)):
        raise KeyFileError(path, "p and q are not two distinct primes: not a Paillier key pair")
    public_key = PaillierPublicKey(n)
    return KeyPair(public_key=public_key, private_key=PaillierPrivateKey(public_key, p, q))


def load_or_create_keypair(
    path: Path, *, bits: int = DEFAULT_KEY_BITS, rng: random.Random | None = None
) -> tuple[KeyPair, bool]:
    """Load the key pair at `path`, or generate one and save it there if there is none.

    Parameters:
        path: the key file; its directory must exist.
        bits: the size of a new key (an existing key keeps its own size).
        rng: the random source of a new key; None (the default) for any real key, see
            `generate_keypair`.

    Returns:
        The key pair, and whether it was created by this call.

    Raises:
        KeyFileError: a file exists and cannot be loaded (see `load_keypair`); it is left
            as it is, never replaced.
        UnsupportedKeySize: `bits` is not supported.
        OSError: a new file cannot be written.
    """
    if not path.exists():
        keys = generate_keypair(bits, rng=rng)
        try:
            write_private_file(path, _key_file_bytes(keys), overwrite=False)
        except FileExistsError:
            pass  # created meanwhile by another process: that key is the one to use
        else:
            return keys, True
    return load_keypair(path), False


def _key_file_bytes(keys: KeyPair) -> bytes:
    body = {
        "format": KEY_PAIR_FORMAT,
        "n": str(keys.public_key.n),
        "p": str(keys.private_key.p),
        "q": str(keys.private_key.q),
    }
    return (json.dumps(body, indent=2) + "\n").encode("ascii")
