"""Shared-exponent encoding: exponent choice, exact rounding, decoding and mantissa bounds."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pysonar.crypto import fixed_point

finite_floats = st.floats(allow_nan=False, allow_infinity=False)


@given(
    max_abs=st.floats(min_value=1e-300, max_value=1e300),
    precision_bits=st.integers(min_value=0, max_value=128),
)
def test_the_exponent_step_lies_within_the_documented_interval(
    max_abs: float, precision_bits: int
) -> None:
    step = Fraction(16) ** fixed_point.exponent_for(max_abs, precision_bits=precision_bits)

    assert Fraction(max_abs) / 2 ** (precision_bits + 5) < step
    assert step <= Fraction(max_abs) / 2**precision_bits


def test_all_zero_values_get_exponent_zero() -> None:
    assert fixed_point.exponent_for(0.0, precision_bits=64) == 0


@pytest.mark.parametrize("max_abs", [-1.0, math.nan, math.inf])
def test_the_exponent_needs_a_finite_non_negative_magnitude(max_abs: float) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        fixed_point.exponent_for(max_abs, precision_bits=64)


@given(values=st.lists(finite_floats, max_size=8), exponent=st.integers(-300, 300))
def test_encoding_rounds_every_value_to_the_nearest_mantissa(
    values: list[float], exponent: int
) -> None:
    step = Fraction(16) ** exponent

    for mantissa, value in zip(fixed_point.encode(values, exponent), values):
        assert abs(mantissa * step - Fraction(value)) <= step / 2


def test_encoding_refuses_non_finite_values() -> None:
    with pytest.raises(ValueError, match="non-finite value nan"):
        fixed_point.encode([1.0, math.nan], -4)


@given(mantissa=st.integers(-(2**200), 2**200), exponent=st.integers(-100, 40))
def test_decoding_gives_the_nearest_float(mantissa: int, exponent: int) -> None:
    assert fixed_point.decode(mantissa, exponent) == float(
        Fraction(mantissa) * Fraction(16) ** exponent
    )


@given(bound=st.floats(min_value=1e-200, max_value=1e200), precision_bits=st.integers(0, 80))
def test_the_mantissa_bound_covers_every_value_within_the_bound(
    bound: float, precision_bits: int
) -> None:
    exponent = fixed_point.exponent_for(bound, precision_bits=precision_bits)
    limit = fixed_point.mantissa_bound(bound, exponent)

    assert max(abs(m) for m in fixed_point.encode([bound, -bound], exponent)) <= limit
    assert (limit - 1) * Fraction(16) ** exponent < Fraction(bound)
