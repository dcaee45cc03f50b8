"""The contract's error unit: a mean squared error scaled to an unsigned 64-bit integer.

`ModelRepository` stores errors as uint64 and pays in proportion to differences of them,
so the scale decides how finely improvements are paid. The original PySonar used
int(1000 * MSE), which truncates; on the diabetes data (target variance about 5,900, MSE
from about 29,000 for zero weights down to about 2,900 at the least-squares fit) a step of
10**-3 is coarse for late, small improvements. Here:

    contract error = round(MSE * 10**6)            (ERROR_SCALE = 10**6, round half to even)

so one unit is 10**-6 of squared target units. The largest storable MSE is
(2**64 - 1) / 10**6, about 1.8e13: over 6e8 times the diabetes data's largest MSE.
NaN, infinities, negative values and values beyond that are refused, never clamped.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

from pysonar.errors import ErrorScaleError
from pysonar.formats.strict_json import is_integer
from sonar.units import ErrorScore

ERROR_SCALE = 10**6
UINT64_MAX = 2**64 - 1
MAX_STORABLE_MSE = UINT64_MAX / ERROR_SCALE


def mse_to_contract(mse: float) -> ErrorScore:
    """Return round(mse * ERROR_SCALE) as the contract's uint64 error.

    Parameters:
        mse: a mean squared error (Python or numpy float, or int).

    Returns:
        The scaled error.

    Raises:
        ErrorScaleError: `mse` is not a real number, is NaN, infinite, negative, or too
            large for uint64 once scaled.
    """
    # numbers.Real covers Python and numpy ints and floats; bool is an int but not an error.
    if isinstance(mse, bool) or not isinstance(mse, numbers.Real):
        raise ErrorScaleError(value=mse, reason="not a real number")
    value = float(mse)
    if math.isnan(value):
        raise ErrorScaleError(value=value, reason="NaN")
    if math.isinf(value):
        raise ErrorScaleError(value=value, reason="infinite")
    if value < 0:
        raise ErrorScaleError(value=value, reason="negative")
    # Exact rational scaling: the float product could round across a .5 boundary.
    scaled = round(Fraction(value) * ERROR_SCALE)
    if scaled > UINT64_MAX:
        raise ErrorScaleError(
            value=value, reason=f"beyond the largest storable error {MAX_STORABLE_MSE:.6g}"
        )
    return ErrorScore(scaled)


def contract_to_mse(error: int) -> float:
    """Return the mean squared error a contract error stands for (error / ERROR_SCALE).

    Raises:
        ErrorScaleError: `error` is not an integer in [0, 2**64).
    """
    if not is_integer(error) or not 0 <= error <= UINT64_MAX:
        raise ErrorScaleError(value=error, reason="not a uint64 integer")
    return error / ERROR_SCALE
