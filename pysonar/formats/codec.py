"""The IPFS objects' JSON formats (FORMATS.md specifies them): writers and strict readers.

Two objects travel through IPFS: the encrypted model the data scientist posts and the
encrypted gradient each mine answers with. Both are UTF-8 JSON, named and versioned by
their `format` and `format_version` keys, with big integers (the modulus, ciphertexts) as
decimal strings. Readers trust nothing: they check the size before parsing, then the
format and version, the exact key set, every type and range, and, for a gradient, that it
belongs to the model it is read against (key, model id, version, shape). Every rejection
is an `InvalidObject` or a `MismatchError` saying what was expected and what was found.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from phe.paillier import PaillierPublicKey

from pysonar.crypto import fixed_point
from pysonar.crypto.encrypted_vector import EncryptedVector, plaintext_limit
from pysonar.crypto.keys import (
    SUPPORTED_KEY_BITS,
    TRUSTED_KEY_BITS,
    key_fingerprint,
    public_key_from_json,
    public_key_to_json,
)
from pysonar.errors import (
    KeyMismatch,
    ModelMismatch,
    SchemaViolation,
    ShapeMismatch,
    UnobfuscatedCiphertext,
    UnsupportedFormat,
    ValueOutOfRange,
)
from pysonar.formats.strict_json import (
    SAFE_INTEGER_MAX,
    expect_decimal,
    expect_int,
    expect_list,
    expect_object,
    expect_positive_number,
    expect_str,
    is_integer,
    parse_object,
)
from pysonar.model.encrypted_model import MAX_MODEL_VERSION, EncryptedModel
from pysonar.model.gradient import MASK_MARGIN_BITS, MAX_ROW_COUNT, EncryptedGradient
from sonar.units import ModelId

MODEL_FORMAT = "hydrogen.encrypted-linear-model"
GRADIENT_FORMAT = "hydrogen.encrypted-gradient"
MODEL_FORMAT_VERSION = 1
# Version 2 added `mask_bits`.
GRADIENT_FORMAT_VERSION = 2

MAX_FEATURE_COUNT = 256
# Fixed-point exponents beyond this would only make decoding slow (16**exponent is computed).
MIN_EXPONENT, MAX_EXPONENT = -512, 512
# The largest valid object of either kind (3072-bit key, 256 features, written compactly) is
# about 477,000 bytes; a test builds it and checks that it fits.
MAX_MODEL_BYTES = 512 * 1024
MAX_GRADIENT_BYTES = 512 * 1024

_MODEL_KEYS = (
    "format",
    "format_version",
    "model_version",
    "public_key",
    "feature_count",
    "hyperparameters",
    "weight_bound",
    "weights",
)
_GRADIENT_KEYS = (
    "format",
    "format_version",
    "model_id",
    "model_version",
    "key_fingerprint",
    "row_count",
    "mask_bits",
    "gradient",
)
_VECTOR_KEYS = ("shape", "exponent", "ciphertexts")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def write_model(model: EncryptedModel) -> bytes:
    """Serialise `model` as a model object (compact UTF-8 JSON).

    Raises:
        UnobfuscatedCiphertext: the weights are bare results of arithmetic.
        ValueOutOfRange: the model could not be read back (key size, feature count,
            exponent or size beyond the format's limits).
    """
    key_bits = model.public_key.n.bit_length()
    if key_bits not in SUPPORTED_KEY_BITS:
        raise ValueOutOfRange(
            path="public_key.key_bits",
            expected=f"one of {list(SUPPORTED_KEY_BITS)}",
            found=str(key_bits),
        )
    _check_writable_count(model.feature_count, "feature_count")
    body = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "model_version": model.model_version,
        "public_key": public_key_to_json(model.public_key),
        "feature_count": model.feature_count,
        "hyperparameters": {"learning_rate": model.learning_rate},
        "weight_bound": model.weight_bound,
        "weights": _vector_to_json(model.weights, "weights"),
    }
    return _dump(body, MAX_MODEL_BYTES, "model")


def read_model(
    data: bytes, *, accepted_key_bits: tuple[int, ...] = TRUSTED_KEY_BITS
) -> EncryptedModel:
    """Parse and validate a model object.

    Parameters:
        data: the object's bytes as fetched from IPFS.
        accepted_key_bits: key sizes to accept; `TRUSTED_KEY_BITS` (2048, 3072) unless
            testing with 1024-bit keys.

    Returns:
        The model, its weights flagged as obfuscated (they were published).

    Raises:
        ObjectTooLarge, MalformedObject, NonFiniteNumber, SchemaViolation,
        ValueOutOfRange, UnsupportedFormat: the bytes are not a valid model object.
        ShapeMismatch: the weights' shape or count disagrees with the feature count.
    """
    body = parse_object(data, kind="model", max_bytes=MAX_MODEL_BYTES)
    _check_format(body, MODEL_FORMAT, MODEL_FORMAT_VERSION)
    expect_object(body, "$", _MODEL_KEYS)
    model_version = expect_int(
        body["model_version"], "model_version", minimum=0, maximum=MAX_MODEL_VERSION
    )
    public_key = public_key_from_json(body["public_key"], accepted_bits=accepted_key_bits)
    feature_count = expect_int(
        body["feature_count"], "feature_count", minimum=1, maximum=MAX_FEATURE_COUNT
    )
    hyperparameters = expect_object(body["hyperparameters"], "hyperparameters", ("learning_rate",))
    learning_rate = expect_positive_number(
        hyperparameters["learning_rate"], "hyperparameters.learning_rate"
    )
    weight_bound = expect_positive_number(body["weight_bound"], "weight_bound")
    weights = _vector_from_json(body["weights"], "weights", public_key, feature_count + 1)
    if fixed_point.mantissa_bound(weight_bound, weights.exponent) > plaintext_limit(public_key):
        raise ValueOutOfRange(
            path="weight_bound",
            expected=f"a bound whose mantissas at exponent {weights.exponent} fit the key",
            found=repr(weight_bound),
        )
    return EncryptedModel(
        weights=weights,
        feature_count=feature_count,
        weight_bound=weight_bound,
        learning_rate=learning_rate,
        model_version=model_version,
    )


def write_gradient(gradient: EncryptedGradient) -> bytes:
    """Serialise `gradient` as a gradient object (compact UTF-8 JSON).

    Raises:
        UnobfuscatedCiphertext: the values were never re-randomised.
        ValueOutOfRange: the gradient could not be read back (ids, counts, exponent or
            size beyond the format's limits).
    """
    _check_writable_count(len(gradient.values) - 1, "gradient.shape")
    if not is_integer(gradient.model_id) or not 0 <= gradient.model_id <= SAFE_INTEGER_MAX:
        raise ValueOutOfRange(
            path="model_id", expected=f"[0, {SAFE_INTEGER_MAX}]", found=repr(gradient.model_id)
        )
    if not 1 <= gradient.row_count <= MAX_ROW_COUNT:
        raise ValueOutOfRange(
            path="row_count", expected=f"[1, {MAX_ROW_COUNT}]", found=str(gradient.row_count)
        )
    body = {
        "format": GRADIENT_FORMAT,
        "format_version": GRADIENT_FORMAT_VERSION,
        "model_id": gradient.model_id,
        "model_version": gradient.model_version,
        "key_fingerprint": key_fingerprint(gradient.values.public_key),
        "row_count": gradient.row_count,
        "mask_bits": gradient.mask_bits,
        "gradient": _vector_to_json(gradient.values, "gradient"),
    }
    return _dump(body, MAX_GRADIENT_BYTES, "gradient")


def read_gradient(
    data: bytes,
    *,
    model: EncryptedModel | Mapping[int, EncryptedModel],
    model_id: ModelId,
) -> EncryptedGradient:
    """Parse and validate a gradient object against the model it claims to answer.

    Parameters:
        data: the object's bytes as fetched from IPFS.
        model: the model (at the version) the gradient must have been computed against; or
            the versions it may have been computed against, by version number, to read it
            against the one it names.
        model_id: the contract's id of `model` (from the GradientAdded event).

    Returns:
        The gradient, under `model`'s public key.

    Raises:
        ObjectTooLarge, MalformedObject, NonFiniteNumber, SchemaViolation,
        ValueOutOfRange, UnsupportedFormat: the bytes are not a valid gradient object.
        KeyMismatch: computed under another key than the model's.
        ModelMismatch: for another model id or model version.
        ShapeMismatch: not one value per weight of the model.
    """
    body = parse_object(data, kind="gradient", max_bytes=MAX_GRADIENT_BYTES)
    _check_format(body, GRADIENT_FORMAT, GRADIENT_FORMAT_VERSION)
    expect_object(body, "$", _GRADIENT_KEYS)
    found_id = expect_int(body["model_id"], "model_id", minimum=0, maximum=SAFE_INTEGER_MAX)
    model_version = expect_int(
        body["model_version"], "model_version", minimum=0, maximum=MAX_MODEL_VERSION
    )
    fingerprint = expect_str(body["key_fingerprint"], "key_fingerprint")
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise SchemaViolation(
            path="key_fingerprint",
            expected="64 lowercase hexadecimal digits (SHA-256)",
            found=repr(fingerprint[:80]),
        )
    row_count = expect_int(body["row_count"], "row_count", minimum=1, maximum=MAX_ROW_COUNT)
    if isinstance(model, Mapping):
        if model_version not in model:
            raise ModelMismatch(
                what="model version",
                expected=f"a published version, up to {max(model, default=0)}",
                found=model_version,
            )
        model = model[model_version]
    # Key first: ciphertext ranges only mean something under the right key.
    expected_fingerprint = key_fingerprint(model.public_key)
    if fingerprint != expected_fingerprint:
        raise KeyMismatch(what="gradient key", expected=expected_fingerprint, found=fingerprint)
    if found_id != model_id:
        raise ModelMismatch(what="model id", expected=model_id, found=found_id)
    if model_version != model.model_version:
        raise ModelMismatch(what="model version", expected=model.model_version, found=model_version)
    # 0 (exact values) or a T that leaves the mask its margin under this key.
    mask_bits = expect_int(
        body["mask_bits"],
        "mask_bits",
        minimum=0,
        maximum=model.public_key.n.bit_length() - 1 - MASK_MARGIN_BITS,
    )
    values = _vector_from_json(body["gradient"], "gradient", model.public_key, len(model.weights))
    return EncryptedGradient(
        model_id=ModelId(found_id),
        model_version=model_version,
        row_count=row_count,
        values=values,
        mask_bits=mask_bits,
    )


def _check_format(body: dict[str, object], expected_format: str, expected_version: int) -> None:
    # Name and version come first: another version may have other keys.
    for key in ("format", "format_version"):
        if key not in body:
            raise SchemaViolation(path=key, expected="present", found="missing")
    found_format = body["format"]
    if found_format != expected_format:
        raise UnsupportedFormat(
            path="format", expected=repr(expected_format), found=repr(found_format)[:80]
        )
    version = body["format_version"]
    if not is_integer(version) or version != expected_version:
        raise UnsupportedFormat(
            path="format_version", expected=str(expected_version), found=repr(version)[:80]
        )


def _vector_to_json(vector: EncryptedVector, path: str) -> dict[str, object]:
    if not vector.obfuscated:
        raise UnobfuscatedCiphertext(what=path)
    if not MIN_EXPONENT <= vector.exponent <= MAX_EXPONENT:
        raise ValueOutOfRange(
            path=f"{path}.exponent",
            expected=f"[{MIN_EXPONENT}, {MAX_EXPONENT}]",
            found=str(vector.exponent),
        )
    return {
        "shape": [len(vector)],
        "exponent": vector.exponent,
        "ciphertexts": [str(c) for c in vector.ciphertexts],
    }


def _vector_from_json(
    value: object, path: str, public_key: PaillierPublicKey, expected_length: int
) -> EncryptedVector:
    fields = expect_object(value, path, _VECTOR_KEYS)
    shape = expect_list(fields["shape"], f"{path}.shape", max_length=1)
    if len(shape) != 1:
        raise SchemaViolation(
            path=f"{path}.shape", expected="an array of one integer", found="an empty array"
        )
    length = expect_int(shape[0], f"{path}.shape[0]", minimum=1, maximum=MAX_FEATURE_COUNT + 1)
    if length != expected_length:
        raise ShapeMismatch(what=f"{path}.shape", expected=[expected_length], found=[length])
    exponent = expect_int(
        fields["exponent"], f"{path}.exponent", minimum=MIN_EXPONENT, maximum=MAX_EXPONENT
    )
    texts = expect_list(
        fields["ciphertexts"], f"{path}.ciphertexts", max_length=MAX_FEATURE_COUNT + 1
    )
    if len(texts) != length:
        raise ShapeMismatch(what=f"{path}.ciphertexts count", expected=length, found=len(texts))
    n, nsquare = public_key.n, public_key.nsquare
    max_digits = len(str(nsquare))
    ciphertexts = []
    for index, text in enumerate(texts):
        item = f"{path}.ciphertexts[{index}]"
        ciphertext = expect_decimal(text, item, max_digits=max_digits)
        if ciphertext >= nsquare:
            raise ValueOutOfRange(
                path=item,
                expected="an integer in [1, n**2)",
                found=f"a {ciphertext.bit_length()}-bit integer >= n**2",
            )
        if math.gcd(ciphertext, n) != 1:
            raise ValueOutOfRange(
                path=item, expected="an integer coprime with n", found="a multiple of a factor of n"
            )
        ciphertexts.append(ciphertext)
    # Read from IPFS means published: whoever wrote it was responsible for obfuscating.
    return EncryptedVector(public_key, tuple(ciphertexts), exponent, True)


def _check_writable_count(feature_count: int, path: str) -> None:
    if not 1 <= feature_count <= MAX_FEATURE_COUNT:
        raise ValueOutOfRange(
            path=path, expected=f"[1, {MAX_FEATURE_COUNT}] features", found=str(feature_count)
        )


def _dump(body: dict[str, object], max_bytes: int, kind: str) -> bytes:
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    if len(data) > max_bytes:
        raise ValueOutOfRange(
            path="$", expected=f"a {kind} object of at most {max_bytes} bytes", found=f"{len(data)}"
        )
    return data
