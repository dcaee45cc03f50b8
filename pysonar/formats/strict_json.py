"""Strict JSON for untrusted objects: bounded parsing and exact-type checks naming the path.

Python's `json` module is lenient in ways an IPFS reader cannot afford: it accepts `NaN`
and `Infinity`, turns `1e400` into `inf`, keeps the last of duplicate keys, treats `true`
as the integer 1 once parsed, and recurses without bound on nested arrays. `parse_object`
closes each of these; the `expect_*` helpers check one value each and raise an error whose
`path` says where in the object the problem is (`weights.ciphertexts[3]`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection

from pysonar.errors import (
    MalformedObject,
    NonFiniteNumber,
    ObjectTooLarge,
    SchemaViolation,
    ValueOutOfRange,
)

# Every JSON integer our formats hold (versions, counts, exponents, ids) is within
# JavaScript's safe range; anything larger travels as a decimal string.
SAFE_INTEGER_MAX = 2**53 - 1
# Longer integer literals are refused before Python converts them (conversion is quadratic).
MAX_INTEGER_LITERAL_DIGITS = 20

_DECIMAL = re.compile(r"[1-9][0-9]*")
# Our formats nest 3 levels deep. The limit is checked before parsing: json's C scanner
# recurses once per level and only stops at the interpreter's recursion limit, which some
# libraries raise (py_ecc, imported with web3, sets 100,000): deep enough to overflow the C
# stack and kill the process instead of raising RecursionError.
MAX_NESTING = 32
# A JSON string (escapes included), and the brackets that nest. A string left open runs to
# the end of the text (JSON refuses it afterwards): were it not matched, every escaped quote
# in it would start another scan to the end, quadratic time (512 KiB took minutes).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
# Protocol 2+ pickles start with the PROTO opcode; naming it makes the rejection obvious.
_PICKLE_PROTO = 0x80


def parse_object(data: bytes, *, kind: str, max_bytes: int) -> dict[str, object]:
    """Parse `data` as one strict JSON object, checking its size before anything else.

    Parameters:
        data: the object's bytes, as fetched (UTF-8 JSON).
        kind: what the object is meant to be ("model", "gradient"), for error messages.
        max_bytes: the format's documented maximum size.

    Returns:
        The parsed top-level object.

    Raises:
        ObjectTooLarge: `data` is longer than `max_bytes` (nothing was parsed).
        MalformedObject: not UTF-8, not JSON, truncated, trailing data, a duplicate key,
            nesting too deep, or a pickle.
        NonFiniteNumber: a NaN or infinite number.
        ValueOutOfRange: an integer literal longer than `MAX_INTEGER_LITERAL_DIGITS`.
        SchemaViolation: the top-level value is not an object.
        TypeError: `data` is not bytes.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{kind} object must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    if len(raw) > max_bytes:
        raise ObjectTooLarge(kind=kind, limit=max_bytes, size=len(raw))
    if raw[:1] == bytes([_PICKLE_PROTO]):
        raise MalformedObject(
            kind=kind, reason="it starts with a Python pickle header; pickles are never loaded"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedObject(kind=kind, reason=f"byte {error.start} is not valid UTF-8") from error
    if _nesting_depth(text) > MAX_NESTING:
        raise MalformedObject(
            kind=kind, reason=f"it is nested too deeply (more than {MAX_NESTING} levels)"
        )
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            object_pairs_hook=_object_without_duplicates(kind),
        )
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()):
            reason = f"it ends before the JSON value is complete (truncated?): {error.msg}"
        else:
            reason = f"{error.msg} at line {error.lineno} column {error.colno}"
        raise MalformedObject(kind=kind, reason=reason) from error
    except RecursionError as error:
        raise MalformedObject(kind=kind, reason="it is nested too deeply") from error
    if not isinstance(value, dict):
        raise SchemaViolation(path="$", expected="a JSON object", found=describe(value))
    return value


def _nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, brackets inside strings aside."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub('""', text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _refuse_constant(token: str) -> float:
    raise NonFiniteNumber(found=token)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise NonFiniteNumber(found=literal)
    return value


def _bounded_int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INTEGER_LITERAL_DIGITS:
        raise ValueOutOfRange(
            path="<integer literal>",
            expected=f"at most {MAX_INTEGER_LITERAL_DIGITS} digits",
            found=f"{digits} digits",
        )
    return int(literal)


def _object_without_duplicates(kind: str):
    def build(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in pairs:
            if key in result:
                raise MalformedObject(kind=kind, reason=f"duplicate key {key!r}")
            result[key] = value
        return result

    return build


def is_integer(value: object) -> bool:
    """Tell whether `value` is an int and not a bool (JSON `true` parses to an int subclass)."""
    return isinstance(value, int) and not isinstance(value, bool)


def describe(value: object) -> str:
    """Name a parsed JSON value's type and show it briefly, for error messages."""
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number with a fraction or exponent",
        str: "a string",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    name = names.get(type(value), type(value).__name__)
    if isinstance(value, (list, dict)):
        return f"{name} of {len(value)} item(s)"
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{name} ({shown})" if value is not None else name


def expect_object(value: object, path: str, keys: Collection[str]) -> dict[str, object]:
    """Check that `value` is an object with exactly `keys`.

    Raises:
        SchemaViolation: not an object, or keys missing or extra.
    """
    if not isinstance(value, dict):
        raise SchemaViolation(path=path, expected="an object", found=describe(value))
    expected = set(keys)
    missing = sorted(expected - value.keys())
    extra = sorted(value.keys() - expected)
    if missing or extra:
        found = "; ".join(
            part
            for part in (
                f"missing {missing}" if missing else "",
                f"unexpected {extra}" if extra else "",
            )
            if part
        )
        raise SchemaViolation(
            path=path, expected=f"exactly the keys {sorted(expected)}", found=found
        )
    return value


def expect_int(value: object, path: str, *, minimum: int, maximum: int) -> int:
    """Check that `value` is a JSON integer (not a boolean or float) in `[minimum, maximum]`.

    Raises:
        SchemaViolation: not an integer.
        ValueOutOfRange: outside the range.
    """
    if not is_integer(value):
        raise SchemaViolation(path=path, expected="an integer", found=describe(value))
    if not minimum <= value <= maximum:
        raise ValueOutOfRange(
            path=path, expected=f"an integer in [{minimum}, {maximum}]", found=str(value)
        )
    return value


def expect_positive_number(value: object, path: str) -> float:
    """Check that `value` is a finite JSON number (integer or not) greater than zero.

    Raises:
        SchemaViolation: not a number (booleans are not numbers).
        ValueOutOfRange: zero or negative.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaViolation(path=path, expected="a number", found=describe(value))
    number = float(value)
    if not number > 0:
        raise ValueOutOfRange(path=path, expected="a number greater than 0", found=repr(value))
    return number


def expect_str(value: object, path: str) -> str:
    """Check that `value` is a JSON string.

    Raises:
        SchemaViolation: not a string.
    """
    if not isinstance(value, str):
        raise SchemaViolation(path=path, expected="a string", found=describe(value))
    return value


def expect_list(value: object, path: str, *, max_length: int) -> list[object]:
    """Check that `value` is a JSON array of at most `max_length` items.

    Raises:
        SchemaViolation: not an array.
        ValueOutOfRange: too long.
    """
    if not isinstance(value, list):
        raise SchemaViolation(path=path, expected="an array", found=describe(value))
    if len(value) > max_length:
        raise ValueOutOfRange(
            path=path, expected=f"at most {max_length} items", found=f"{len(value)} items"
        )
    return value


def expect_decimal(value: object, path: str, *, max_digits: int) -> int:
    """Check that `value` is a string holding a positive decimal integer, and return it.

    The string must be canonical: digits only, no sign, no leading zero, no spaces.

    Raises:
        SchemaViolation: not a string, or not a canonical decimal.
        ValueOutOfRange: more than `max_digits` digits (checked before conversion).
    """
    text = expect_str(value, path)
    if len(text) > max_digits:
        raise ValueOutOfRange(
            path=path, expected=f"at most {max_digits} digits", found=f"{len(text)} characters"
        )
    if not _DECIMAL.fullmatch(text):
        raise SchemaViolation(
            path=path,
            expected="a positive decimal integer as a string (digits only, no leading zero)",
            found=describe(value),
        )
    return int(text)
