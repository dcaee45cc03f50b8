"""Shared-exponent fixed-point encoding of real numbers as the integers Paillier encrypts.

A real x is carried as an integer mantissa m with x ~= m * BASE**exponent, the convention
phe's `EncodedNumber` uses (BASE = 16). Unlike phe's per-number encoding, a whole vector
or matrix here shares ONE exponent: sums of its products with a ciphertext then never need
an exponent alignment (an extra modular exponentiation each in phe), and the magnitude of
every mantissa is known in advance, which is what the overflow guards need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

from phe import EncodedNumber

BASE: int = EncodedNumber.BASE
# phe's BASE is 16; the shifts below rely on it being 2**4.
_LOG2_BASE = 4


def exponent_for(max_abs: float, *, precision_bits: int) -> int:
    """Return the shared exponent giving `precision_bits` of resolution below `max_abs`.

    The step BASE**exponent lies in (max_abs / 2**(precision_bits + 5), max_abs /
    2**precision_bits], so every value of magnitude up to `max_abs` is encoded with an
    absolute error of at most half a step, and its mantissa has at most about
    `precision_bits` + 5 bits.

    Parameters:
        max_abs: the largest magnitude to encode (finite, >= 0); 0 gives exponent 0.
        precision_bits: bits of resolution below `max_abs`.

    Returns:
        The shared exponent.

    Raises:
        ValueError: `max_abs` is negative or not finite.
    """
    if not (math.isfinite(max_abs) and max_abs >= 0):
        raise ValueError(f"max_abs must be finite and >= 0, not {max_abs!r}")
    if max_abs == 0:
        return 0
    # max_abs = fraction * 2**binary with fraction in [0.5, 1): max_abs >= 2**(binary - 1).
    _, binary = math.frexp(max_abs)
    return (binary - 1 - precision_bits) // _LOG2_BASE


def encode(values: Iterable[float], exponent: int) -> list[int]:
    """Return the mantissas round(x / BASE**exponent) of `values`, exactly rounded.

    Parameters:
        values: finite real numbers (Python or numpy floats or ints).
        exponent: the shared exponent.

    Returns:
        The signed integer mantissas, in order.

    Raises:
        ValueError: a value is not finite.
    """
    shift = -_LOG2_BASE * exponent
    mantissas = []
    for value in values:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"cannot encode the non-finite value {number!r}")
        try:
            # Scaling by a power of two is exact unless the float range overflows.
            mantissas.append(round(math.ldexp(number, shift)))
        except OverflowError:
            mantissas.append(round(Fraction(number) * Fraction(2) ** shift))
    return mantissas


def decode(mantissa: int, exponent: int) -> float:
    """Return mantissa * BASE**exponent as the nearest float.

    Raises:
        OverflowError: the value is beyond the float range.
    """
    if exponent >= 0:
        return float(mantissa * BASE**exponent)
    # int / int is correctly rounded, and never overflows for in-range results.
    return mantissa / BASE**-exponent


def mantissa_bound(bound: float, exponent: int) -> int:
    """Return the largest mantissa magnitude `encode` gives for values within +/-`bound`."""
    return math.ceil(Fraction(bound) / Fraction(BASE) ** exponent)
