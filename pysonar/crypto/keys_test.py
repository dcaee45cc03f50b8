"""Key generation sizes and seeding, fingerprints, and the public key's strict JSON form."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from pysonar.crypto.keys import (
    SUPPORTED_KEY_BITS,
    KeyPair,
    generate_keypair,
    key_fingerprint,
    public_key_from_json,
    public_key_to_json,
)
from pysonar.errors import SchemaViolation, UnsupportedKeySize, ValueOutOfRange


@pytest.mark.parametrize("bits", [1024, 2048, 3072])
def test_generates_a_modulus_of_exactly_the_requested_size_that_decrypts(bits: int) -> None:
    pair = generate_keypair(bits, rng=random.Random(bits))

    assert pair.public_key.n.bit_length() == bits
    assert pair.private_key.p * pair.private_key.q == pair.public_key.n
    assert pair.private_key.p.bit_length() == pair.private_key.q.bit_length() == bits // 2
    assert pair.private_key.decrypt(pair.public_key.encrypt(-12.5)) == -12.5


def test_the_same_seed_gives_the_same_key_and_another_seed_another() -> None:
    first = generate_keypair(1024, rng=random.Random(42))
    again = generate_keypair(1024, rng=random.Random(42))
    other = generate_keypair(1024, rng=random.Random(43))

    assert first.public_key.n == again.public_key.n
    assert first.private_key.p == again.private_key.p
    assert other.public_key.n != first.public_key.n


def test_without_a_seed_keys_are_2048_bits_and_never_repeat() -> None:
    first, second = generate_keypair(), generate_keypair()

    assert first.public_key.n.bit_length() == 2048
    assert first.public_key.n != second.public_key.n


@pytest.mark.parametrize("bits", [512, 4096, 2047, True, 2048.0])
def test_refuses_an_unsupported_key_size(bits: object) -> None:
    with pytest.raises(UnsupportedKeySize) as raised:
        generate_keypair(bits)  # type: ignore[arg-type]

    assert raised.value.bits == bits
    assert raised.value.supported == SUPPORTED_KEY_BITS


def test_fingerprint_is_the_sha256_of_the_modulus_big_endian_bytes(keypair: KeyPair) -> None:
    n = keypair.public_key.n

    assert key_fingerprint(keypair.public_key) == hashlib.sha256(n.to_bytes(128, "big")).hexdigest()


def test_different_keys_have_different_fingerprints(
    keypair: KeyPair, other_keypair: KeyPair
) -> None:
    assert key_fingerprint(keypair.public_key) != key_fingerprint(other_keypair.public_key)


def test_public_key_json_round_trips_through_json_text(keypair: KeyPair) -> None:
    text = json.dumps(public_key_to_json(keypair.public_key))

    restored = public_key_from_json(json.loads(text), accepted_bits=SUPPORTED_KEY_BITS)

    assert json.loads(text) == {"n": str(keypair.public_key.n), "key_bits": 1024}
    assert restored == keypair.public_key
    assert restored.g == keypair.public_key.n + 1


def test_public_key_json_refuses_a_1024_bit_key_unless_asked(keypair: KeyPair) -> None:
    with pytest.raises(ValueOutOfRange) as raised:
        public_key_from_json(public_key_to_json(keypair.public_key))

    assert raised.value.path == "public_key.key_bits"
    assert raised.value.found == "1024"


def test_public_key_json_refuses_a_modulus_whose_size_differs_from_key_bits(
    keypair: KeyPair,
) -> None:
    value = {"n": str(keypair.public_key.n >> 1 | 1), "key_bits": 1024}

    with pytest.raises(ValueOutOfRange) as raised:
        public_key_from_json(value, accepted_bits=SUPPORTED_KEY_BITS)

    assert raised.value.path == "public_key.n"
    assert raised.value.found == "a 1023-bit number"


def test_public_key_json_refuses_an_even_modulus(keypair: KeyPair) -> None:
    value = {"n": str(keypair.public_key.n + 1), "key_bits": 1024}

    with pytest.raises(ValueOutOfRange, match="an odd modulus"):
        public_key_from_json(value, accepted_bits=SUPPORTED_KEY_BITS)


@pytest.mark.parametrize(
    "n_text", ["0123", "+123", " 123", "-123", "12e3", "\u0661\u0662\u0663", "0x1f", ""]
)
def test_public_key_json_refuses_non_canonical_decimals(n_text: str) -> None:
    with pytest.raises(SchemaViolation) as raised:
        public_key_from_json({"n": n_text, "key_bits": 1024}, accepted_bits=SUPPORTED_KEY_BITS)

    assert raised.value.path == "public_key.n"


def test_public_key_json_refuses_n_as_a_json_number(keypair: KeyPair) -> None:
    with pytest.raises(SchemaViolation) as raised:
        public_key_from_json(
            {"n": keypair.public_key.n, "key_bits": 1024}, accepted_bits=SUPPORTED_KEY_BITS
        )

    assert raised.value.expected == "a string"


def test_public_key_json_refuses_a_boolean_key_size(keypair: KeyPair) -> None:
    with pytest.raises(SchemaViolation) as raised:
        public_key_from_json({"n": str(keypair.public_key.n), "key_bits": True})

    assert raised.value.path == "public_key.key_bits"
    assert raised.value.found == "a boolean (True)"


def test_public_key_json_refuses_extra_keys(keypair: KeyPair) -> None:
    value = {**public_key_to_json(keypair.public_key), "g": "2"}

    with pytest.raises(SchemaViolation) as raised:
        public_key_from_json(value, accepted_bits=SUPPORTED_KEY_BITS)

    assert raised.value.found == "unexpected ['g']"


def test_public_key_json_checks_length_before_converting_the_modulus() -> None:
    # 100,000 digits would take Python noticeable time to convert; it is refused by length.
    with pytest.raises(ValueOutOfRange) as raised:
        public_key_from_json({"n": "7" * 100_000, "key_bits": 2048})

    assert raised.value.found == "100000 characters"
