"""The IPFS objects round-trip, and readers reject each kind of bad object with its own error."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import numpy as np
import pytest
from phe.paillier import PaillierPublicKey

from pysonar import diabetes
from pysonar.crypto.encrypted_vector import EncryptedVector
from pysonar.crypto.keys import KeyPair, key_fingerprint
from pysonar.errors import (
    KeyMismatch,
    MalformedObject,
    ModelMismatch,
    NonFiniteNumber,
    ObjectTooLarge,
    SchemaViolation,
    ShapeMismatch,
    UnobfuscatedCiphertext,
    UnsupportedFormat,
    ValueOutOfRange,
)
from pysonar.formats.codec import (
    GRADIENT_FORMAT,
    MAX_FEATURE_COUNT,
    MAX_GRADIENT_BYTES,
    MAX_MODEL_BYTES,
    MODEL_FORMAT,
    read_gradient,
    read_model,
    write_gradient,
    write_model,
)
from pysonar.formats.strict_json import SAFE_INTEGER_MAX
from pysonar.model.encrypted_model import EncryptedModel, encrypt_model, weight_exponent
from pysonar.model.gradient import (
    MAX_ROW_COUNT,
    EncryptedGradient,
    ShardStatistics,
    encrypted_gradient,
)
from sonar.units import ModelId

MODEL_ID = ModelId(9)
TEST_KEYS = (1024,)

# A protocol-4 pickle whose loading would run os.system("echo pwned"): bytes kept literal
# so that nothing in the repository imports pickle.
PICKLE_PROTOCOL_4 = (
    b"\x80\x04\x95%\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94"
    b"\x8c\necho pwned\x94\x85\x94R\x94."
)
PICKLE_PROTOCOL_0 = b"cposix\nsystem\np0\n(Vecho pwned\np1\ntp2\nRp3\n."


@pytest.fixture(scope="module")
def model(keypair: KeyPair, weights: np.ndarray) -> EncryptedModel:
    return encrypt_model(
        weights, keypair.public_key, weight_bound=2.0**20, learning_rate=0.25, model_version=2
    )


@pytest.fixture(scope="module")
def model_bytes(model: EncryptedModel) -> bytes:
    return write_model(model)


@pytest.fixture(scope="module")
def gradient(model: EncryptedModel, diabetes_split: diabetes.Split) -> EncryptedGradient:
    shard = diabetes_split.shards[0]
    return encrypted_gradient(
        model, ShardStatistics.from_data(shard.features, shard.targets), model_id=MODEL_ID
    )


@pytest.fixture(scope="module")
def gradient_bytes(gradient: EncryptedGradient) -> bytes:
    return write_gradient(gradient)


def edited(data: bytes, edit: Callable[[dict], object]) -> bytes:
    body = json.loads(data)
    edit(body)
    return json.dumps(body).encode()


def read_test_model(data: bytes) -> EncryptedModel:
    return read_model(data, accepted_key_bits=TEST_KEYS)


# --- Round trips ----------------------------------------------------------------------------


def test_a_model_round_trips(model: EncryptedModel, model_bytes: bytes) -> None:
    restored = read_test_model(model_bytes)

    assert restored == model
    assert restored.public_key.n == model.public_key.n


def test_a_gradient_round_trips_against_its_model(
    model: EncryptedModel, gradient: EncryptedGradient, gradient_bytes: bytes
) -> None:
    assert read_gradient(gradient_bytes, model=model, model_id=MODEL_ID) == gradient


def test_the_model_object_is_compact_json_with_big_integers_as_decimal_strings(
    model: EncryptedModel, model_bytes: bytes
) -> None:
    body = json.loads(model_bytes)

    assert list(body) == sorted(body)
    assert b" " not in model_bytes
    assert body["format"] == MODEL_FORMAT and body["format_version"] == 1
    assert body["public_key"] == {"n": str(model.public_key.n), "key_bits": 1024}
    assert body["weights"]["shape"] == [11]
    assert body["weights"]["exponent"] == weight_exponent(2.0**20)
    assert [int(c) for c in body["weights"]["ciphertexts"]] == list(model.weights.ciphertexts)
    assert body["hyperparameters"] == {"learning_rate": 0.25}
    assert (body["feature_count"], body["model_version"], body["weight_bound"]) == (10, 2, 2.0**20)


def test_the_gradient_object_names_its_model_and_key(
    model: EncryptedModel, gradient_bytes: bytes
) -> None:
    body = json.loads(gradient_bytes)

    assert body["format"] == GRADIENT_FORMAT
    assert (body["model_id"], body["model_version"], body["row_count"]) == (9, 2, 44)
    assert body["key_fingerprint"] == key_fingerprint(model.public_key)
    assert body["format_version"] == 2 and body["mask_bits"] > 0


def test_a_mask_without_its_80_bit_margin_under_the_key_is_refused(
    model: EncryptedModel, gradient_bytes: bytes
) -> None:
    largest = model.public_key.n.bit_length() - 1 - 80
    assert (
        read_gradient(
            edited(gradient_bytes, lambda b: b.update(mask_bits=largest)),
            model=model,
            model_id=MODEL_ID,
        ).mask_bits
        == largest
    )
    with pytest.raises(ValueOutOfRange, match="mask_bits"):
        read_gradient(
            edited(gradient_bytes, lambda b: b.update(mask_bits=largest + 1)),
            model=model,
            model_id=MODEL_ID,
        )
    with pytest.raises(SchemaViolation, match="mask_bits"):
        read_gradient(
            edited(gradient_bytes, lambda b: b.pop("mask_bits")), model=model, model_id=MODEL_ID
        )


# --- Rejections named in the brief: pickle, wrong key, truncation, size, NaN ----------------


@pytest.mark.parametrize("payload", [PICKLE_PROTOCOL_4, PICKLE_PROTOCOL_0])
def test_a_pickle_payload_is_refused_without_being_loaded(payload: bytes) -> None:
    with pytest.raises(MalformedObject) as raised:
        read_test_model(payload)

    assert raised.value.kind == "model"
    if payload is PICKLE_PROTOCOL_4:
        assert "pickle" in raised.value.reason


def test_a_gradient_under_another_key_is_refused(
    model: EncryptedModel,
    other_keypair: KeyPair,
    weights: np.ndarray,
    diabetes_split: diabetes.Split,
) -> None:
    impostor = encrypt_model(
        weights, other_keypair.public_key, weight_bound=2.0**20, learning_rate=0.25, model_version=2
    )
    shard = diabetes_split.shards[0]
    foreign = write_gradient(
        encrypted_gradient(
            impostor, ShardStatistics.from_data(shard.features, shard.targets), model_id=MODEL_ID
        )
    )

    with pytest.raises(KeyMismatch) as raised:
        read_gradient(foreign, model=model, model_id=MODEL_ID)

    assert raised.value.expected == key_fingerprint(model.public_key)
    assert raised.value.found == key_fingerprint(other_keypair.public_key)


@pytest.mark.parametrize("keep", [1, 100, -1])
def test_a_truncated_model_is_refused(model_bytes: bytes, keep: int) -> None:
    with pytest.raises(MalformedObject, match="truncated"):
        read_test_model(model_bytes[:keep])


def test_an_oversized_gradient_is_refused_before_parsing(
    model: EncryptedModel, gradient_bytes: bytes
) -> None:
    padded = gradient_bytes + b" " * (MAX_GRADIENT_BYTES + 1 - len(gradient_bytes))

    with pytest.raises(ObjectTooLarge) as raised:
        read_gradient(padded, model=model, model_id=MODEL_ID)

    assert (raised.value.kind, raised.value.limit, raised.value.size) == (
        "gradient",
        MAX_GRADIENT_BYTES,
        MAX_GRADIENT_BYTES + 1,
    )


def test_an_oversized_model_is_refused_before_parsing() -> None:
    with pytest.raises(ObjectTooLarge) as raised:
        read_test_model(b"[" * (MAX_MODEL_BYTES + 1))

    assert raised.value.size == MAX_MODEL_BYTES + 1


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_learning_rate_is_refused(model_bytes: bytes, literal: str) -> None:
    data = model_bytes.replace(b'"learning_rate":0.25', b'"learning_rate":' + literal.encode())
    assert data != model_bytes

    with pytest.raises(NonFiniteNumber) as raised:
        read_test_model(data)

    assert raised.value.found == literal


# --- Schema: exact keys and exact types -----------------------------------------------------


def test_an_extra_key_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(SchemaViolation) as raised:
        read_test_model(edited(model_bytes, lambda b: b.update(comment="hi")))

    assert (raised.value.path, raised.value.found) == ("$", "unexpected ['comment']")


def test_a_missing_key_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(SchemaViolation) as raised:
        read_test_model(edited(model_bytes, lambda b: b.pop("weight_bound")))

    assert raised.value.found == "missing ['weight_bound']"


def test_an_extra_hyperparameter_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(SchemaViolation) as raised:
        read_test_model(edited(model_bytes, lambda b: b["hyperparameters"].update(momentum=0.9)))

    assert raised.value.path == "hyperparameters"


@pytest.mark.parametrize(
    ("key", "value"), [("feature_count", True), ("model_version", 2.0), ("feature_count", "10")]
)
def test_an_integer_field_holding_another_type_is_refused(
    model_bytes: bytes, key: str, value: object
) -> None:
    with pytest.raises(SchemaViolation) as raised:
        read_test_model(edited(model_bytes, lambda b: b.update({key: value})))

    assert (raised.value.path, raised.value.expected) == (key, "an integer")


def test_a_ciphertext_as_a_json_number_is_refused(model_bytes: bytes) -> None:
    def set_third(value: object) -> Callable[[dict], None]:
        return lambda body: body["weights"]["ciphertexts"].__setitem__(3, value)

    ciphertext = json.loads(model_bytes)["weights"]["ciphertexts"][3]
    # A real ciphertext as a number is refused by length before Python converts it ...
    with pytest.raises(ValueOutOfRange) as too_long:
        read_test_model(edited(model_bytes, set_third(int(ciphertext))))
    # ... and a short one by type.
    with pytest.raises(SchemaViolation) as wrong_type:
        read_test_model(edited(model_bytes, set_third(12345)))

    assert too_long.value.path == "<integer literal>"
    assert too_long.value.found == f"{len(ciphertext)} digits"
    assert (wrong_type.value.path, wrong_type.value.expected) == (
        "weights.ciphertexts[3]",
        "a string",
    )


def test_duplicate_keys_are_refused(model_bytes: bytes) -> None:
    data = model_bytes[:-1] + b',"model_version":0}'

    with pytest.raises(MalformedObject, match="duplicate key 'model_version'"):
        read_test_model(data)


# --- Values ---------------------------------------------------------------------------------


def test_ciphertexts_outside_one_to_n_squared_are_refused(
    model: EncryptedModel, model_bytes: bytes
) -> None:
    def set_first(value: str) -> Callable[[dict], None]:
        return lambda body: body["weights"]["ciphertexts"].__setitem__(0, value)

    n = model.public_key.n
    with pytest.raises(ValueOutOfRange, match=r"weights.ciphertexts\[0\]: expected an integer in"):
        read_test_model(edited(model_bytes, set_first(str(n * n))))
    with pytest.raises(ValueOutOfRange, match="coprime with n"):
        read_test_model(edited(model_bytes, set_first(str(n))))
    with pytest.raises(SchemaViolation):
        read_test_model(edited(model_bytes, set_first("0")))


def test_a_1024_bit_key_is_refused_by_default(model_bytes: bytes) -> None:
    with pytest.raises(ValueOutOfRange) as raised:
        read_model(model_bytes)

    assert (raised.value.path, raised.value.found) == ("public_key.key_bits", "1024")


def test_a_key_size_outside_the_supported_set_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(ValueOutOfRange) as raised:
        read_model(
            edited(model_bytes, lambda b: b["public_key"].update(key_bits=4096)),
            accepted_key_bits=TEST_KEYS,
        )

    assert raised.value.path == "public_key.key_bits"


def test_an_exponent_outside_the_allowed_range_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(ValueOutOfRange) as raised:
        read_test_model(edited(model_bytes, lambda b: b["weights"].update(exponent=-(10**6))))

    assert raised.value.path == "weights.exponent"


def test_a_weight_bound_too_large_for_the_key_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(ValueOutOfRange) as raised:
        read_test_model(edited(model_bytes, lambda b: b.update(weight_bound=1e300)))

    assert raised.value.path == "weight_bound"


def test_a_zero_learning_rate_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(ValueOutOfRange) as raised:
        read_test_model(edited(model_bytes, lambda b: b["hyperparameters"].update(learning_rate=0)))

    assert raised.value.path == "hyperparameters.learning_rate"


def test_a_malformed_key_fingerprint_is_refused(
    model: EncryptedModel, gradient_bytes: bytes
) -> None:
    upper = edited(gradient_bytes, lambda b: b.update(key_fingerprint=b["key_fingerprint"].upper()))

    with pytest.raises(SchemaViolation) as raised:
        read_gradient(upper, model=model, model_id=MODEL_ID)

    assert raised.value.path == "key_fingerprint"


# --- Format and version ---------------------------------------------------------------------


def test_an_unknown_format_version_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(UnsupportedFormat) as raised:
        read_test_model(edited(model_bytes, lambda b: b.update(format_version=2)))

    assert (raised.value.path, raised.value.expected, raised.value.found) == (
        "format_version",
        "1",
        "2",
    )


def test_a_gradient_read_as_a_model_is_refused(gradient_bytes: bytes) -> None:
    with pytest.raises(UnsupportedFormat) as raised:
        read_test_model(gradient_bytes)

    assert raised.value.found == repr(GRADIENT_FORMAT)


# --- A gradient must belong to the model it is read against ---------------------------------


def test_a_gradient_for_another_model_id_is_refused(
    model: EncryptedModel, gradient_bytes: bytes
) -> None:
    with pytest.raises(ModelMismatch) as raised:
        read_gradient(gradient_bytes, model=model, model_id=ModelId(10))

    assert (raised.value.what, raised.value.expected, raised.value.found) == ("model id", 10, 9)


def test_a_gradient_for_another_model_version_is_refused(
    model: EncryptedModel, gradient_bytes: bytes
) -> None:
    stale = edited(gradient_bytes, lambda b: b.update(model_version=1))

    with pytest.raises(ModelMismatch) as raised:
        read_gradient(stale, model=model, model_id=MODEL_ID)

    assert (raised.value.what, raised.value.expected, raised.value.found) == (
        "model version",
        2,
        1,
    )


def test_a_gradient_is_read_against_the_version_it_names_among_those_given(
    model: EncryptedModel, gradient: EncryptedGradient, gradient_bytes: bytes
) -> None:
    # The model fixture is version 2; version 5 exists too, and the gradient names 2.
    later = dataclasses.replace(model, model_version=5)

    read = read_gradient(gradient_bytes, model={2: model, 5: later}, model_id=MODEL_ID)

    assert read.model_version == 2
    assert read.values.ciphertexts == gradient.values.ciphertexts
    with pytest.raises(ModelMismatch) as raised:
        read_gradient(gradient_bytes, model={0: model, 1: model}, model_id=MODEL_ID)
    assert (raised.value.what, raised.value.found) == ("model version", 2)


def test_a_gradient_of_another_shape_is_refused(
    model: EncryptedModel, gradient_bytes: bytes
) -> None:
    def shorten(body: dict) -> None:
        body["gradient"]["ciphertexts"].pop()
        body["gradient"]["shape"] = [10]

    with pytest.raises(ShapeMismatch) as raised:
        read_gradient(edited(gradient_bytes, shorten), model=model, model_id=MODEL_ID)

    assert (raised.value.expected, raised.value.found) == ([11], [10])


def test_a_shape_that_disagrees_with_the_ciphertext_count_is_refused(model_bytes: bytes) -> None:
    with pytest.raises(ShapeMismatch) as raised:
        read_test_model(edited(model_bytes, lambda b: b["weights"]["ciphertexts"].pop()))

    assert (raised.value.what, raised.value.expected, raised.value.found) == (
        "weights.ciphertexts count",
        11,
        10,
    )


def test_weights_that_disagree_with_the_feature_count_are_refused(model_bytes: bytes) -> None:
    with pytest.raises(ShapeMismatch) as raised:
        read_test_model(edited(model_bytes, lambda b: b.update(feature_count=9)))

    assert (raised.value.expected, raised.value.found) == ([10], [11])


# --- Writers --------------------------------------------------------------------------------


def test_the_writer_refuses_a_gradient_that_was_never_obfuscated(
    gradient: EncryptedGradient,
) -> None:
    values = gradient.values
    bare = EncryptedGradient(
        gradient.model_id,
        gradient.model_version,
        gradient.row_count,
        EncryptedVector(values.public_key, values.ciphertexts, values.exponent, False),
    )

    with pytest.raises(UnobfuscatedCiphertext, match="gradient holds ciphertexts"):
        write_gradient(bare)


def test_the_largest_valid_objects_fit_under_the_size_limits() -> None:
    # A 3072-bit odd modulus and ciphertexts of n**2's full length: the largest values the
    # format allows. Ciphertexts need not be real encryptions for the size to be real.
    n = 2**3071 + 2**1000 + 1
    public_key = PaillierPublicKey(n)
    count = MAX_FEATURE_COUNT + 1
    # n is odd, so n**2 - 2**k is coprime with it.
    ciphertexts = tuple(n * n - 2 ** (k + 1) for k in range(count))
    assert all(len(str(c)) == len(str(n * n)) for c in ciphertexts)
    bound = 1e300
    model = EncryptedModel(
        weights=EncryptedVector(public_key, ciphertexts, weight_exponent(bound), True),
        feature_count=MAX_FEATURE_COUNT,
        weight_bound=bound,
        learning_rate=1.7976931348623157e308,
        model_version=2**32 - 1,
    )
    gradient = EncryptedGradient(
        ModelId(SAFE_INTEGER_MAX),
        2**32 - 1,
        MAX_ROW_COUNT,
        EncryptedVector(public_key, ciphertexts, -512, True),
    )

    model_bytes, gradient_bytes = write_model(model), write_gradient(gradient)

    assert len(model_bytes) <= MAX_MODEL_BYTES
    assert len(gradient_bytes) <= MAX_GRADIENT_BYTES
    restored = read_model(model_bytes, accepted_key_bits=(3072,))
    assert restored == model
    assert read_gradient(gradient_bytes, model=restored, model_id=gradient.model_id) == gradient
