"""Mutated model and gradient objects are read consistently or refused with an object error.

Hypothesis starts from one valid model object and one valid gradient object (1024-bit seeded
key) and applies one mutation of a kind each test names: ciphertexts out of range or sharing
a factor with n, huge digit strings, duplicate keys, deep nesting, another key, model id or
version, wrong types, missing and extra fields, truncation, invalid UTF-8, byte flips,
oversized objects. Whatever the bytes, a reader either accepts them, and then the object
decrypts consistently and survives another round trip, or it raises `InvalidObject` or
`MismatchError`; never another exception, never in more than `MAX_SECONDS` or
`MAX_PEAK_BYTES`. Mutations whose outcome is certain (a truncation, an oversized object) also
check the specific error.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from pysonar import diabetes
from pysonar.crypto.encrypted_vector import EncryptedVector, encrypt_vector
from pysonar.crypto.keys import KeyPair
from pysonar.errors import (
    DecryptionOverflow,
    InvalidObject,
    KeyMismatch,
    MalformedObject,
    MismatchError,
    ModelMismatch,
    NonFiniteNumber,
    ObjectTooLarge,
    SchemaViolation,
    ValueBeyondFloatRange,
    ValueOutOfRange,
)
from pysonar.formats.codec import (
    MAX_EXPONENT,
    MAX_GRADIENT_BYTES,
    MAX_MODEL_BYTES,
    MIN_EXPONENT,
    read_gradient,
    read_model,
    write_gradient,
    write_model,
)
from pysonar.formats.strict_json import MAX_NESTING
from pysonar.model.aggregation import decrypt_gradient
from pysonar.model.encrypted_model import EncryptedModel, decrypt_weights, encrypt_model
from pysonar.model.gradient import EncryptedGradient, ShardStatistics, encrypted_gradient
from sonar.units import ModelId

MODEL_ID = ModelId(9)
MODEL_VERSION = 2
TEST_KEYS = (1024,)
OBJECT_ERRORS = (InvalidObject, MismatchError)
MAX_SECONDS = 2.0
MAX_PEAK_BYTES = 64 * 1024 * 1024
# Per kind of mutation: 19 kinds per reader, about 475 objects each, 10 s in all.
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Target:
    """A valid object to mutate, its key's factors and another key's modulus."""

    data: bytes
    body: dict
    vector: str
    max_bytes: int
    n: int
    p: int
    q: int
    other_n: int
    # For a gradient: one of its shape and exponent computed under the other key.
    foreign: bytes = b""


@dataclass(frozen=True)
class Mutant:
    """Mutated bytes; `refused_with` when the outcome is certain, `unchanged` when the
    bytes are another encoding of the original object."""

    name: str
    data: bytes
    refused_with: tuple[type[Exception], ...] | None = None
    unchanged: bool = False


# --- Fixtures: one valid object of each kind ------------------------------------------------


@pytest.fixture(scope="module")
def model(keypair: KeyPair, weights: np.ndarray) -> EncryptedModel:
    return encrypt_model(
        weights,
        keypair.public_key,
        weight_bound=2.0**20,
        learning_rate=0.25,
        model_version=MODEL_VERSION,
    )


@pytest.fixture(scope="module")
def gradient_bytes(model: EncryptedModel, diabetes_split: diabetes.Split) -> bytes:
    shard = diabetes_split.shards[0]
    statistics = ShardStatistics.from_data(shard.features, shard.targets)
    return write_gradient(encrypted_gradient(model, statistics, model_id=MODEL_ID))


@pytest.fixture(scope="module")
def model_target(model: EncryptedModel, keypair: KeyPair, other_keypair: KeyPair) -> Target:
    return target(write_model(model), "weights", MAX_MODEL_BYTES, keypair, other_keypair)


@pytest.fixture(scope="module")
def gradient_target(gradient_bytes: bytes, keypair: KeyPair, other_keypair: KeyPair) -> Target:
    valid = target(gradient_bytes, "gradient", MAX_GRADIENT_BYTES, keypair, other_keypair)
    vector = valid.body["gradient"]
    values = encrypt_vector(
        np.linspace(-1.0, 1.0, vector["shape"][0]),
        other_keypair.public_key,
        exponent=vector["exponent"],
    )
    foreign = write_gradient(EncryptedGradient(MODEL_ID, MODEL_VERSION, 44, values))
    return dataclasses.replace(valid, foreign=foreign)


def target(data: bytes, vector: str, max_bytes: int, keys: KeyPair, other: KeyPair) -> Target:
    private = keys.private_key
    n, other_n = private.public_key.n, other.public_key.n
    return Target(data, json.loads(data), vector, max_bytes, n, private.p, private.q, other_n)


# --- Reading under bounds -------------------------------------------------------------------


def read_bounded(read: Callable[[bytes], object], data: bytes) -> object:
    """Return what `read(data)` returns or the object error it raises, in bounded time and
    memory; any other exception propagates and fails the test."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        outcome = read(data)
    except OBJECT_ERRORS as error:
        outcome = error
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < MAX_SECONDS, f"reading {len(data)} bytes took {elapsed:.1f} s"
    assert peak < MAX_PEAK_BYTES, f"reading {len(data)} bytes allocated {peak} bytes"
    return outcome


def check_outcome(mutant: Mutant, outcome: object, original: object) -> None:
    event(f"{mutant.name}: {type(outcome).__name__}")
    note(f"{mutant.name}: {mutant.data[:300]!r}... ({len(mutant.data)} bytes) -> {outcome!r}")
    if mutant.refused_with is not None:
        assert isinstance(outcome, mutant.refused_with)
    if mutant.unchanged:
        assert outcome == original


def check_decrypts(
    vector: EncryptedVector, decrypt: Callable[[], np.ndarray], expected: np.ndarray | None
) -> None:
    """Decrypt an accepted object: to `expected` if its ciphertexts (and all else decryption
    depends on) are the original's; otherwise to finite values, or to a refusal: a plaintext
    in phe's overflow band, or a value beyond float64 (possible only if n * 16**exponent is);
    either refusal is the project's own error class."""
    if expected is not None:
        assert np.array_equal(decrypt(), expected)
        return
    try:
        values = decrypt()
    except DecryptionOverflow:
        event("decryption: DecryptionOverflow")
        return
    except ValueBeyondFloatRange:
        event("decryption: ValueBeyondFloatRange")
        assert vector.public_key.n.bit_length() + 4 * vector.exponent > sys.float_info.max_exp
        return
    assert values.shape == (len(vector),)
    assert np.all(np.isfinite(values))


# --- Where to mutate ------------------------------------------------------------------------


def paths(value: object, prefix: Path = ()) -> Iterator[Path]:
    """Every position in a parsed JSON value, the root first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def value_at(body: object, path: Path) -> object:
    for step in path:
        body = body[step]  # type: ignore[index]
    return body


def replaced(body: dict, path: Path, value: object) -> dict:
    if not path:
        return value  # type: ignore[return-value]
    edited = copy.deepcopy(body)
    value_at(edited, path[:-1])[path[-1]] = value  # type: ignore[index]
    return edited


def dumped(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


_RAW = "\x00raw\x00"


def with_raw(body: dict, path: Path, raw: str) -> bytes:
    """`body` with the JSON text `raw` (NaN, huge literals, deep nesting) at `path`."""
    return dumped(replaced(body, path, _RAW)).replace(json.dumps(_RAW).encode(), raw.encode())


def type_class(value: object) -> str:
    return type(value).__name__


def refused_if_retyped(original: object, new: object) -> tuple[type[Exception], ...] | None:
    """Every field's type is fixed, except that a number with a fraction may be an integer."""
    if type_class(new) == type_class(original) or (
        type_class(original) == "float" and type_class(new) == "int"
    ):
        return None
    return OBJECT_ERRORS


# --- Mutations ------------------------------------------------------------------------------

plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**18), 10**18)
    | st.sampled_from([0, -1, 1, 2, 2**32 - 1, 2**32, 2**53 - 1, 2**53, -(2**53)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([-0.0, 0.5, 2.0, 5e-324, 1.7976931348623157e308, 1e16])
    | st.text(max_size=20)
    | st.sampled_from(["", "1", "0", "-1", "1.5", "1e3", "0x1f", "NaN"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def any_path(t: Target) -> st.SearchStrategy[Path]:
    return st.sampled_from(list(paths(t.body)))


def object_path(t: Target) -> st.SearchStrategy[Path]:
    return st.sampled_from([p for p in paths(t.body) if isinstance(value_at(t.body, p), dict)])


def leaf_paths(body: dict) -> list[Path]:
    return [p for p in paths(body) if not isinstance(value_at(body, p), (dict, list))]


def leaf_path(t: Target) -> st.SearchStrategy[Path]:
    return st.sampled_from(leaf_paths(t.body))


def ciphertext_index(t: Target) -> st.SearchStrategy[int]:
    return st.integers(0, len(t.body[t.vector]["ciphertexts"]) - 1)


def with_ciphertext(t: Target, index: int, text: str) -> bytes:
    return dumped(replaced(t.body, (t.vector, "ciphertexts", index), text))


@st.composite
def reencoded(draw: st.DrawFn, t: Target) -> Mutant:
    """The same object in other valid JSON: key order, whitespace, \\u escapes, padding."""
    order = draw(st.permutations(list(t.body)))
    body = {key: t.body[key] for key in order}
    indent = draw(st.sampled_from([None, 0, 2]))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]))
    text = json.dumps(body, indent=indent, separators=separators)
    keys = {step for path in paths(t.body) for step in path if isinstance(step, str)}
    values = {value_at(t.body, path) for path in leaf_paths(t.body)}
    strings = sorted(keys | {value for value in values if isinstance(value, str)})
    escaped = draw(st.sampled_from(strings))
    token = json.dumps(escaped)
    text = text.replace(token, '"' + "".join(f"\\u{ord(c):04x}" for c in escaped) + '"', 1)
    space = draw(st.sampled_from(["", " ", "\r\n\t"]))
    data = (space + text + space).encode()
    if draw(st.booleans()) and len(data) < t.max_bytes:
        data += b" " * (t.max_bytes - len(data))  # exactly the limit is allowed
    return Mutant("re-encoded", data, unchanged=True)


@st.composite
def bad_ciphertext(draw: st.DrawFn, t: Target) -> Mutant:
    """Zero, not canonical, >= n**2, or sharing a factor with n: all refused."""
    index = draw(ciphertext_index(t))
    original = t.body[t.vector]["ciphertexts"][index]
    nsquare = t.n * t.n
    kind = draw(st.sampled_from(["zero", "non-canonical", "at least n**2", "shares a factor"]))
    if kind == "zero":
        return Mutant("ciphertext 0", with_ciphertext(t, index, "0"), (SchemaViolation,))
    if kind == "non-canonical":
        text = draw(
            st.sampled_from(
                ["-" + original, "0" + original, " " + original, original + "\n", "+" + original]
                + ["1_000", "1e5", "0x1f", "\u0661\u0662\u0663", "\uff11\uff12", "", "1.0"]
            )
        )
        # Refused for its form, or first for its length when one character was added.
        refused = (SchemaViolation, ValueOutOfRange)
        return Mutant("ciphertext not canonical", with_ciphertext(t, index, text), refused)
    if kind == "at least n**2":
        value = nsquare + draw(st.integers(0, nsquare))
        return Mutant(
            "ciphertext >= n**2", with_ciphertext(t, index, str(value)), (ValueOutOfRange,)
        )
    factor = draw(st.sampled_from([t.p, t.q, t.n]))
    value = factor * draw(st.integers(1, (nsquare - 1) // factor))
    return Mutant(
        "ciphertext shares a factor with n",
        with_ciphertext(t, index, str(value)),
        (ValueOutOfRange,),
    )


@st.composite
def other_ciphertexts(draw: st.DrawFn, t: Target) -> Mutant:
    """Valid-looking ciphertexts of other plaintexts: a reader cannot tell."""
    index = draw(ciphertext_index(t))
    if draw(st.booleans()):
        value = str(draw(st.integers(1, t.n * t.n - 1)))
    else:
        value = t.body[t.vector]["ciphertexts"][draw(ciphertext_index(t))]
    return Mutant("ciphertext replaced", with_ciphertext(t, index, value))


@st.composite
def other_exponent(draw: st.DrawFn, t: Target) -> Mutant:
    """Any exponent around the allowed range: values decrypt scaled by 16**exponent."""
    edges = [MIN_EXPONENT - 1, MIN_EXPONENT, MAX_EXPONENT, MAX_EXPONENT + 1]
    exponent = draw(st.integers(MIN_EXPONENT - 2, MAX_EXPONENT + 2) | st.sampled_from(edges))
    data = dumped(replaced(t.body, (t.vector, "exponent"), exponent))
    in_range = MIN_EXPONENT <= exponent <= MAX_EXPONENT
    return Mutant("other exponent", data, None if in_range else (ValueOutOfRange,))


@st.composite
def huge_digits(draw: st.DrawFn, t: Target) -> Mutant:
    """Thousands of digits where a ciphertext, a modulus or any number is."""
    count = draw(st.sampled_from([618, 1000, 4300, 4301, 20_000, 200_000]))
    digits = draw(st.sampled_from(["9", "1", "7"])) * count
    where = draw(st.sampled_from(["ciphertext", "modulus", "number"]))
    if where == "ciphertext":
        data = with_ciphertext(t, draw(ciphertext_index(t)), digits)
    elif where == "modulus" and "public_key" in t.body:
        data = dumped(replaced(t.body, ("public_key", "n"), digits))
    else:
        data = with_raw(t.body, draw(leaf_path(t)), digits)
    return Mutant(f"{count} digits", data, (ValueOutOfRange,))


@st.composite
def duplicate_key(draw: st.DrawFn, t: Target) -> Mutant:
    """A key twice in one object, the first time with the same or another value."""
    path = draw(object_path(t))
    key = draw(st.sampled_from(sorted(value_at(t.body, path))))
    first = draw(st.just(value_at(t.body, (*path, key))) | plain_values)
    edited = replaced(t.body, path, {_RAW: 0, **value_at(t.body, path)})
    data = dumped(edited).replace(dumped(_RAW) + b":0", dumped(key) + b":" + dumped(first), 1)
    return Mutant("duplicate key", data, (MalformedObject,))


@st.composite
def deep_nesting(draw: st.DrawFn, t: Target) -> Mutant:
    """Arrays (or arrays of objects) nested up to 100,000 deep in place of a value."""
    path = draw(any_path(t))
    depth = draw(st.integers(1, MAX_NESTING + 2) | st.sampled_from([1000, 10_000, 100_000]))
    if draw(st.booleans()):
        raw = "[" * depth + "]" * depth
    else:
        raw = '[{"a":' * (depth // 2) + "0" + "}]" * (depth // 2)
        depth = depth // 2 * 2
    too_deep = len(path) + depth > MAX_NESTING
    return Mutant(
        "deep nesting" if too_deep else "nesting",
        with_raw(t.body, path, raw),
        (MalformedObject,) if too_deep else None,
    )


@st.composite
def non_finite(draw: st.DrawFn, t: Target) -> Mutant:
    token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1E+309"]))
    return Mutant(
        "non-finite number", with_raw(t.body, draw(leaf_path(t)), token), (NonFiniteNumber,)
    )


@st.composite
def other_value(draw: st.DrawFn, t: Target) -> Mutant:
    """Any JSON value anywhere: wrong types (string for number, float for int, bool, null)
    are refused; a value of the right type may be accepted."""
    path = draw(any_path(t))
    value = draw(plain_values)
    return Mutant(
        "value replaced",
        dumped(replaced(t.body, path, value)),
        refused_if_retyped(value_at(t.body, path), value),
    )


@st.composite
def swapped_value(draw: st.DrawFn, t: Target) -> Mutant:
    """A value copied from elsewhere in the object: a count for a version, a key for a vector."""
    path, source = draw(any_path(t)), draw(any_path(t))
    return Mutant("value from elsewhere", dumped(replaced(t.body, path, value_at(t.body, source))))


@st.composite
def missing_field(draw: st.DrawFn, t: Target) -> Mutant:
    path = draw(object_path(t))
    key = draw(st.sampled_from(sorted(value_at(t.body, path))))
    edited = replaced(t.body, path, dict(value_at(t.body, path)))
    del value_at(edited, path)[key]  # type: ignore[attr-defined]
    return Mutant("missing field", dumped(edited), (SchemaViolation,))


@st.composite
def extra_field(draw: st.DrawFn, t: Target) -> Mutant:
    path = draw(object_path(t))
    fields = value_at(t.body, path)
    key = draw(st.text(max_size=10).filter(lambda k: k not in fields))  # type: ignore[operator]
    edited = replaced(t.body, path, {**fields, key: draw(plain_values)})  # type: ignore[dict-item]
    return Mutant("extra field", dumped(edited), (SchemaViolation,))


@st.composite
def truncated(draw: st.DrawFn, t: Target) -> Mutant:
    return Mutant("truncated", t.data[: draw(st.integers(0, len(t.data) - 1))], (MalformedObject,))


@st.composite
def invalid_utf8(draw: st.DrawFn, t: Target) -> Mutant:
    position = draw(st.integers(0, len(t.data)))
    sequence = draw(
        st.sampled_from(
            [b"\x80", b"\xff", b"\xc0\xaf", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
        )
    )
    keep = draw(st.integers(0, 1))  # insert, or overwrite one byte
    data = t.data[:position] + sequence + t.data[position + keep :]
    return Mutant("invalid UTF-8", data, (MalformedObject,))


@st.composite
def flipped_bytes(draw: st.DrawFn, t: Target) -> Mutant:
    data = bytearray(t.data)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    return Mutant("bytes flipped", bytes(data))


@st.composite
def oversized(draw: st.DrawFn, t: Target) -> Mutant:
    """Over the limit by 1 byte to 4 MiB, padded with what would fail parsing (but spaces)."""
    extra = draw(st.integers(1, 4 * 1024 * 1024) | st.just(1))
    pad = draw(st.sampled_from([b" ", b"[", b"\xff", b"9"]))
    data = t.data + pad * (t.max_bytes - len(t.data) + extra)
    return Mutant("oversized", data, (ObjectTooLarge,))


@st.composite
def unterminated_string(draw: st.DrawFn, t: Target) -> Mutant:
    """Cut anywhere, then a string of escaped quotes that never ends, up to the limit."""
    position = draw(st.integers(0, len(t.data)))
    most = (t.max_bytes - position - 1) // 2
    count = draw(st.integers(0, 64) | st.just(most))
    return Mutant(
        "unterminated string", t.data[:position] + b'"' + b'\\"' * count, (MalformedObject,)
    )


@st.composite
def other_modulus(draw: st.DrawFn, t: Target) -> Mutant:
    """The model under another key (the ciphertexts unchanged): another key pair's n, n + 2,
    or any odd 1024-bit number."""
    n = draw(
        st.sampled_from([t.other_n, t.n + 2])
        | st.integers(2**1023, 2**1024 - 1).map(lambda x: x | 1)
    )
    return Mutant("other modulus", dumped(replaced(t.body, ("public_key", "n"), str(n))))


@st.composite
def other_model_version(draw: st.DrawFn, t: Target) -> Mutant:
    version = draw(st.integers(0, 2**32 - 1).filter(lambda v: v != MODEL_VERSION))
    return Mutant("other model version", dumped(replaced(t.body, ("model_version",), version)))


@st.composite
def under_another_key(draw: st.DrawFn, t: Target) -> Mutant:
    """A gradient computed under another key, or naming another key's fingerprint."""
    if draw(st.booleans()):
        return Mutant("computed under another key", t.foreign, (KeyMismatch,))
    fingerprint = json.loads(t.foreign)["key_fingerprint"]
    data = dumped(replaced(t.body, ("key_fingerprint",), fingerprint))
    return Mutant("another key's fingerprint", data, (KeyMismatch,))


@st.composite
def for_another_model(draw: st.DrawFn, t: Target) -> Mutant:
    """A gradient naming another model id or model version."""
    if draw(st.booleans()):
        found = draw(st.integers(0, 2**53 - 1).filter(lambda i: i != MODEL_ID))
        return Mutant(
            "another model id", dumped(replaced(t.body, ("model_id",), found)), (ModelMismatch,)
        )
    found = draw(st.integers(0, 2**32 - 1).filter(lambda v: v != MODEL_VERSION))
    data = dumped(replaced(t.body, ("model_version",), found))
    return Mutant("another model version", data, (ModelMismatch,))


Mutation = Callable[[Target], st.SearchStrategy[Mutant]]
COMMON: tuple[Mutation, ...] = (
    reencoded,
    bad_ciphertext,
    other_ciphertexts,
    other_exponent,
    huge_digits,
    duplicate_key,
    deep_nesting,
    non_finite,
    other_value,
    swapped_value,
    missing_field,
    extra_field,
    truncated,
    invalid_utf8,
    flipped_bytes,
    oversized,
    unterminated_string,
)
MODEL_MUTATIONS = (*COMMON, other_modulus, other_model_version)
GRADIENT_MUTATIONS = (*COMMON, under_another_key, for_another_model)


# --- The properties -------------------------------------------------------------------------


def read_test_model(data: bytes) -> EncryptedModel:
    return read_model(data, accepted_key_bits=TEST_KEYS)


@pytest.mark.parametrize("mutation", MODEL_MUTATIONS, ids=lambda m: m.__name__)
@FUZZ
@given(data=st.data())
def test_a_mutated_model_is_read_consistently_or_refused_with_an_object_error(
    data: st.DataObject,
    mutation: Mutation,
    model_target: Target,
    keypair: KeyPair,
    other_keypair: KeyPair,
) -> None:
    original = read_test_model(model_target.data)
    mutant = data.draw(mutation(model_target))

    outcome = read_bounded(read_test_model, mutant.data)

    check_outcome(mutant, outcome, original)
    if isinstance(outcome, EncryptedModel):
        assert read_test_model(write_model(outcome)) == outcome
        keys = {pair.public_key.n: pair.private_key for pair in (keypair, other_keypair)}
        private = keys.get(outcome.public_key.n)
        if private is not None:
            same = outcome.weights == original.weights
            check_decrypts(
                outcome.weights,
                lambda: decrypt_weights(outcome, private),
                decrypt_weights(original, keypair.private_key) if same else None,
            )


@pytest.mark.parametrize("mutation", GRADIENT_MUTATIONS, ids=lambda m: m.__name__)
@FUZZ
@given(data=st.data())
def test_a_mutated_gradient_is_read_consistently_or_refused_with_an_object_error(
    data: st.DataObject,
    mutation: Mutation,
    model: EncryptedModel,
    gradient_target: Target,
    keypair: KeyPair,
) -> None:
    def read(b: bytes) -> EncryptedGradient:
        return read_gradient(b, model=model, model_id=MODEL_ID)

    original = read(gradient_target.data)
    mutant = data.draw(mutation(gradient_target))

    outcome = read_bounded(read, mutant.data)

    check_outcome(mutant, outcome, original)
    if isinstance(outcome, EncryptedGradient):
        assert read(write_gradient(outcome)) == outcome
        # Model id and version are the original's once accepted, and the row count does not
        # enter decryption; all else (ciphertexts, exponent) does.
        same = dataclasses.replace(outcome, row_count=original.row_count) == original
        check_decrypts(
            outcome.values,
            lambda: decrypt_gradient(outcome, keypair.private_key),
            decrypt_gradient(original, keypair.private_key) if same else None,
        )
