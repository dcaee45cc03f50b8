"""Strict parsing closes each leniency of Python's json module, and checks name their path."""

from __future__ import annotations

import sys
import time

import pytest

from pysonar.errors import (
    MalformedObject,
    NonFiniteNumber,
    ObjectTooLarge,
    SchemaViolation,
    ValueOutOfRange,
)
from pysonar.formats.strict_json import (
    MAX_NESTING,
    expect_decimal,
    expect_int,
    expect_object,
    expect_positive_number,
    parse_object,
)

LIMIT = 1000


def parse(data: bytes) -> dict[str, object]:
    return parse_object(data, kind="test", max_bytes=LIMIT)


def test_size_is_checked_before_parsing() -> None:
    # Not JSON at all: only a size check that runs first can report it as too large.
    with pytest.raises(ObjectTooLarge) as raised:
        parse(b"\xff" * (LIMIT + 1))

    assert (raised.value.limit, raised.value.size, raised.value.kind) == (LIMIT, LIMIT + 1, "test")


def test_an_object_of_exactly_the_limit_is_parsed() -> None:
    data = b'{"a": "' + b"x" * (LIMIT - 10) + b'"}'
    assert len(data) == LIMIT - 1

    assert parse(data + b" ") == {"a": "x" * (LIMIT - 10)}


@pytest.mark.parametrize(
    ("text", "token"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b'{"a": 1e400}', "1e400"),
        (b'{"a": [-1.5E999]}', "-1.5E999"),
    ],
)
def test_refuses_nan_infinity_and_literals_that_overflow_to_infinity(
    text: bytes, token: str
) -> None:
    with pytest.raises(NonFiniteNumber) as raised:
        parse(text)

    assert raised.value.found == token


def test_refuses_duplicate_keys_instead_of_keeping_the_last() -> None:
    with pytest.raises(MalformedObject, match="duplicate key 'a'"):
        parse(b'{"a": 1, "b": {}, "a": 2}')


def test_refuses_deep_nesting_without_crashing() -> None:
    with pytest.raises(MalformedObject, match="nested too deeply"):
        parse_object(b"[" * 100_000 + b"]" * 100_000, kind="test", max_bytes=300_000)


def test_refuses_deep_nesting_even_under_a_raised_recursion_limit() -> None:
    # py_ecc, which web3 imports, sets the limit to 100,000: json's C scanner then overflows
    # the C stack (a segmentation fault) before any RecursionError.
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(MalformedObject, match="nested too deeply"):
            parse_object(b"[" * 100_000 + b"]" * 100_000, kind="test", max_bytes=300_000)
    finally:
        sys.setrecursionlimit(previous)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    deep_text = '"' + "[" * 1000 + '\\"{' + '"'
    assert parse_object(('{"a": ' + deep_text + "}").encode(), kind="test", max_bytes=10_000) == {
        "a": "[" * 1000 + '"{'
    }
    nested = b'{"a": ' + b"[" * MAX_NESTING + b"]" * MAX_NESTING + b"}"
    with pytest.raises(MalformedObject, match="nested too deeply"):
        parse_object(nested, kind="test", max_bytes=10_000)
    deepest = b'{"a": ' + b"[" * (MAX_NESTING - 1) + b"]" * (MAX_NESTING - 1) + b"}"
    assert parse_object(deepest, kind="test", max_bytes=10_000)["a"]


def test_an_unterminated_string_of_escaped_quotes_is_refused_in_linear_time() -> None:
    # The nesting check's string pattern used to restart at every escaped quote of a string
    # that never ends, scanning to the end each time: 200 KB took over a minute.
    data = b'{"a": "' + b'\\"' * 100_000
    start = time.perf_counter()

    with pytest.raises(MalformedObject, match="Unterminated string"):
        parse_object(data, kind="test", max_bytes=len(data))

    assert time.perf_counter() - start < 1.0


def test_a_truncated_object_is_reported_as_truncated() -> None:
    with pytest.raises(MalformedObject, match=r"ends before the JSON value is complete"):
        parse(b'{"a": [1, 2')


def test_refuses_trailing_data() -> None:
    with pytest.raises(MalformedObject, match="Extra data at line 1 column 4"):
        parse(b"{} {}")


def test_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(MalformedObject, match="byte 7 is not valid UTF-8"):
        parse(b'{"a": "\xff"}')


def test_refuses_a_top_level_value_that_is_not_an_object() -> None:
    with pytest.raises(SchemaViolation) as raised:
        parse(b"[1, 2]")

    assert (raised.value.path, raised.value.found) == ("$", "an array of 2 item(s)")


def test_refuses_integer_literals_too_long_to_convert_cheaply() -> None:
    with pytest.raises(ValueOutOfRange) as raised:
        parse(b'{"a": 1' + b"0" * 30 + b"}")

    assert raised.value.found == "31 digits"


def test_refuses_text_instead_of_bytes() -> None:
    with pytest.raises(TypeError, match="must be bytes, not str"):
        parse_object("{}", kind="test", max_bytes=LIMIT)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "found"), [(True, "a boolean (True)"), (1.0, "a number")])
def test_an_integer_field_refuses_booleans_and_floats(value: object, found: str) -> None:
    with pytest.raises(SchemaViolation) as raised:
        expect_int(value, "count", minimum=0, maximum=10)

    assert raised.value.path == "count"
    assert raised.value.found.startswith(found)


def test_an_integer_field_refuses_values_out_of_range() -> None:
    with pytest.raises(ValueOutOfRange) as raised:
        expect_int(11, "count", minimum=0, maximum=10)

    assert (raised.value.expected, raised.value.found) == ("an integer in [0, 10]", "11")


def test_an_object_check_names_missing_and_extra_keys() -> None:
    with pytest.raises(SchemaViolation) as raised:
        expect_object({"a": 1, "c": 2}, "thing", ("a", "b"))

    assert raised.value.found == "missing ['b']; unexpected ['c']"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (True, SchemaViolation),
        ("1", SchemaViolation),
        (0, ValueOutOfRange),
        (-0.5, ValueOutOfRange),
    ],
)
def test_a_positive_number_field_refuses_other_types_and_non_positive_values(
    value: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        expect_positive_number(value, "rate")


def test_a_positive_number_field_accepts_integers_as_numbers() -> None:
    assert expect_positive_number(2, "rate") == 2.0


def test_a_decimal_string_is_converted_only_when_canonical() -> None:
    assert expect_decimal("1234567890123456789012345", "x", max_digits=30) == (
        1234567890123456789012345
    )
    with pytest.raises(ValueOutOfRange):
        expect_decimal("1" * 31, "x", max_digits=30)
