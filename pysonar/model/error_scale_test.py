"""Mean squared errors scale to the contract's uint64 with resolution; bad values are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.errors import ErrorScaleError
from pysonar.model.error_scale import (
    ERROR_SCALE,
    MAX_STORABLE_MSE,
    UINT64_MAX,
    contract_to_mse,
    mse_to_contract,
)
from pysonar.model.linear_regression import mean_squared_error


def test_scales_by_a_million_and_rounds_to_the_nearest_unit() -> None:
    assert ERROR_SCALE == 10**6
    assert mse_to_contract(2.25) == 2_250_000
    assert mse_to_contract(0) == 0
    assert mse_to_contract(2859.6963475867506) == 2_859_696_348
    assert mse_to_contract(1.0000007) == 1_000_001


def test_keeps_resolution_on_the_diabetes_errors(diabetes_data: diabetes.Shard) -> None:
    zero = np.zeros(11)
    mse = mean_squared_error(zero, diabetes_data.features, diabetes_data.targets)

    assert 29_000 < mse < 29_100
    assert mse_to_contract(mse + 1e-3) - mse_to_contract(mse) == 1000
    assert abs(contract_to_mse(mse_to_contract(mse)) - mse) <= 0.5 / ERROR_SCALE


def test_the_diabetes_errors_fit_uint64_with_a_wide_margin(diabetes_data: diabetes.Shard) -> None:
    # The largest error on this data is that of the zero model: the mean squared target.
    largest = float(np.mean(diabetes_data.targets**2))

    assert mse_to_contract(largest) * 10**8 < UINT64_MAX
    assert MAX_STORABLE_MSE / largest > 6e8


def test_the_largest_storable_error_fits_and_a_larger_one_is_refused() -> None:
    assert mse_to_contract(1.8e13) == 18 * 10**18
    with pytest.raises(ErrorScaleError, match="beyond the largest storable error"):
        mse_to_contract(1.9e13)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "NaN"),
        (np.float64("nan"), "NaN"),
        (math.inf, "infinite"),
        (-1e-9, "negative"),
        ("1.0", "not a real number"),
        (True, "not a real number"),
        (None, "not a real number"),
    ],
)
def test_refuses_what_cannot_be_an_error(value: object, reason: str) -> None:
    with pytest.raises(ErrorScaleError) as raised:
        mse_to_contract(value)  # type: ignore[arg-type]

    assert raised.value.reason == reason


def test_accepts_numpy_scalars() -> None:
    assert mse_to_contract(np.float64(2.5)) == 2_500_000
    assert mse_to_contract(np.float32(0.5)) == 500_000
    assert mse_to_contract(np.int64(3)) == 3_000_000


def test_contract_errors_convert_back_to_mean_squared_errors() -> None:
    assert contract_to_mse(2_859_696_348) == 2859.696348
    assert contract_to_mse(UINT64_MAX) == UINT64_MAX / 10**6


@pytest.mark.parametrize("value", [-1, 2**64, True, 1.0])
def test_contract_errors_must_be_uint64_integers(value: object) -> None:
    with pytest.raises(ErrorScaleError, match="not a uint64 integer"):
        contract_to_mse(value)  # type: ignore[arg-type]
