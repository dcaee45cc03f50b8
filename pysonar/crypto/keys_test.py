"""Key generation sizes and seeding, fingerprints, the public key's strict JSON form, and the
key pair's private file."""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from pathlib import Path

import gmpy2
import pytest

from pysonar.crypto.keys import (
    KEY_PAIR_FORMAT,
    MAX_KEY_FILE_BYTES,
    SUPPORTED_KEY_BITS,
    KeyPair,
    generate_keypair,
    key_fingerprint,
    load_keypair,
    load_or_create_keypair,
    public_key_from_json,
    public_key_to_json,
    save_keypair,
)
from pysonar.errors import KeyFileError, SchemaViolation, UnsupportedKeySize, ValueOutOfRange


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


# -- the key pair's file -------------------------------------------------------------------


def write_key_file(path: Path, body: object) -> Path:
    path.write_text(json.dumps(body))
    path.chmod(0o600)
    return path


def key_file_body(keys: KeyPair) -> dict[str, str]:
    return {
        "format": KEY_PAIR_FORMAT,
        "n": str(keys.public_key.n),
        "p": str(keys.private_key.p),
        "q": str(keys.private_key.q),
    }


def test_a_saved_key_pair_loads_back_and_decrypts_what_the_original_encrypted(
    keypair: KeyPair, tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"

    save_keypair(keypair, path)
    loaded = load_keypair(path)

    assert json.loads(path.read_text()) == key_file_body(keypair)
    assert loaded.public_key == keypair.public_key
    assert (loaded.private_key.p, loaded.private_key.q) == (
        keypair.private_key.p,
        keypair.private_key.q,
    )
    assert loaded.private_key.decrypt(keypair.public_key.encrypt(-12.5)) == -12.5


def test_the_key_file_is_private_from_the_moment_it_exists(
    keypair: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With umask 0 a file created with the default mode would be 0666; rename is the moment
    # the key gets its name, so the file's mode then is the mode it was created with.
    modes_at_rename: list[int] = []
    real_replace = os.replace

    def spy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        modes_at_rename.append(stat.S_IMODE(os.stat(source).st_mode))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    previous = os.umask(0)
    try:
        save_keypair(keypair, tmp_path / "keys.json")
    finally:
        os.umask(previous)

    assert modes_at_rename == [0o600]
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"], "no temporary file is left"


def test_saving_over_a_shared_key_file_makes_it_private(keypair: KeyPair, tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("old")
    path.chmod(0o644)

    save_keypair(keypair, path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620])
def test_refuses_a_key_file_that_group_or_others_can_read_or_write(
    keypair: KeyPair, tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "keys.json"
    save_keypair(keypair, path)
    path.chmod(mode)

    with pytest.raises(KeyFileError) as raised:
        load_keypair(path)

    assert raised.value.path == path
    assert raised.value.reason == (
        f"can be read by others (mode {mode:o}); make it private: chmod 600 {path}"
    )


def test_refuses_a_key_file_whose_modulus_was_altered(keypair: KeyPair, tmp_path: Path) -> None:
    body = {**key_file_body(keypair), "n": str(keypair.public_key.n + 2)}
    path = write_key_file(tmp_path / "keys.json", body)

    with pytest.raises(KeyFileError, match="p \\* q is not n") as raised:
        load_keypair(path)

    assert str(path) in str(raised.value)


def test_refuses_factors_that_are_not_two_primes(keypair: KeyPair, tmp_path: Path) -> None:
    n = keypair.public_key.n
    path = write_key_file(
        tmp_path / "keys.json", {"format": KEY_PAIR_FORMAT, "n": str(n), "p": "1", "q": str(n)}
    )

    with pytest.raises(KeyFileError, match="not two distinct primes"):
        load_keypair(path)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.", "pickles are never loaded"),
        (b'{"format": "hydrogen/paillier-key-pair/1", "n": "1"', "truncated"),
        (b"n=123 p=3 q=41", "not valid JSON"),
        (b'["hydrogen/paillier-key-pair/1"]', "expected a JSON object"),
    ],
)
def test_refuses_a_key_file_that_is_not_a_json_object(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(content)
    path.chmod(0o600)

    with pytest.raises(KeyFileError, match=reason):
        load_keypair(path)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"format": "hydrogen/paillier-key-pair/2"}, "format: expected"),
        ({"format": None}, "format: expected"),
        ({"g": "2"}, "unexpected \\['g'\\]"),
        ({"p": 3}, "p: expected a string"),
        ({"q": "0x1f"}, "q: expected a positive decimal integer"),
    ],
)
def test_refuses_a_key_file_of_another_format_or_schema(
    keypair: KeyPair, tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    path = write_key_file(tmp_path / "keys.json", {**key_file_body(keypair), **change})

    with pytest.raises(KeyFileError, match=reason):
        load_keypair(path)


def test_refuses_a_key_of_an_unsupported_size(tmp_path: Path) -> None:
    small = generate_keypair(1024, rng=random.Random(1))
    p, q = small.private_key.p, small.private_key.q  # 512-bit primes
    tiny_p, tiny_q = int(gmpy2.next_prime(p >> 256)), int(gmpy2.next_prime(q >> 256))
    body = {
        "format": KEY_PAIR_FORMAT,
        "n": str(tiny_p * tiny_q),
        "p": str(tiny_p),
        "q": str(tiny_q),
    }
    path = write_key_file(tmp_path / "keys.json", body)

    with pytest.raises(KeyFileError, match="supported key sizes are \\[1024, 2048, 3072\\]"):
        load_keypair(path)


def test_refuses_a_key_file_larger_than_any_key_pair_before_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(b" " * (MAX_KEY_FILE_BYTES + 1))
    path.chmod(0o600)

    with pytest.raises(KeyFileError, match=f"more than the maximum of {MAX_KEY_FILE_BYTES}"):
        load_keypair(path)


def test_a_missing_key_file_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="No such file or directory") as raised:
        load_keypair(tmp_path / "absent.json")

    assert raised.value.path == tmp_path / "absent.json"


def test_load_or_create_creates_a_private_key_file_once_then_loads_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"

    created, was_created = load_or_create_keypair(path, bits=1024, rng=random.Random(3))
    loaded, created_again = load_or_create_keypair(path, bits=1024, rng=random.Random(4))

    assert (was_created, created_again) == (True, False)
    assert loaded.public_key == created.public_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_or_create_never_replaces_a_key_file_it_cannot_load(
    keypair: KeyPair, tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"
    save_keypair(keypair, path)
    path.chmod(0o644)
    before = path.read_bytes()

    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_keypair(path, bits=1024)

    assert path.read_bytes() == before
