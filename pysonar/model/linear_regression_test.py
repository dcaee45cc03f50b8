"""Plaintext linear regression: bias column, predictions, error, gradient and update."""

from __future__ import annotations

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.errors import NonFiniteInput, ShapeMismatch
from pysonar.model.linear_regression import (
    add_bias_column,
    apply_gradient,
    least_squares,
    mean_squared_error,
    plaintext_gradient,
    predict,
)


def test_the_bias_column_is_appended_last() -> None:
    np.testing.assert_array_equal(
        add_bias_column(np.array([[2.0, 3.0], [4.0, 5.0]])), [[2.0, 3.0, 1.0], [4.0, 5.0, 1.0]]
    )


def test_predictions_use_the_last_weight_as_the_bias() -> None:
    np.testing.assert_array_equal(
        predict(np.array([1.0, -1.0, 10.0]), np.array([[2.0, 3.0], [0.0, 0.0]])), [9.0, 10.0]
    )


def test_the_gradient_is_half_the_derivative_of_the_mean_squared_error(
    diabetes_data: diabetes.Shard, weights: np.ndarray
) -> None:
    features, targets = diabetes_data.features[:50], diabetes_data.targets[:50]
    step = 1e-4
    numeric = np.array(
        [
            (
                mean_squared_error(weights + step * unit, features, targets)
                - mean_squared_error(weights - step * unit, features, targets)
            )
            / (2 * step)
            for unit in np.eye(11)
        ]
    )

    np.testing.assert_allclose(
        plaintext_gradient(weights, features, targets), numeric / 2, rtol=1e-6
    )


def test_least_squares_is_scikit_learns_fit(diabetes_data: diabetes.Shard) -> None:
    from sklearn.linear_model import LinearRegression  # the reference, in the tests only

    reference = LinearRegression().fit(diabetes_data.features, diabetes_data.targets)

    np.testing.assert_allclose(
        least_squares(diabetes_data.features, diabetes_data.targets),
        np.append(reference.coef_, reference.intercept_),
        rtol=1e-9,
    )


def test_the_gradient_vanishes_at_the_least_squares_fit(diabetes_data: diabetes.Shard) -> None:
    fit = least_squares(diabetes_data.features, diabetes_data.targets)

    gradient = plaintext_gradient(fit, diabetes_data.features, diabetes_data.targets)

    assert np.max(np.abs(gradient)) < 1e-9


def test_a_gradient_step_lowers_the_diabetes_error(diabetes_data: diabetes.Shard) -> None:
    start = np.zeros(11)
    gradient = plaintext_gradient(start, diabetes_data.features, diabetes_data.targets)

    moved = apply_gradient(start, gradient, 0.5)

    np.testing.assert_array_equal(moved, -0.5 * gradient)
    assert mean_squared_error(moved, diabetes_data.features, diabetes_data.targets) < (
        mean_squared_error(start, diabetes_data.features, diabetes_data.targets)
    )


def test_applying_a_gradient_of_another_shape_is_refused() -> None:
    with pytest.raises(ShapeMismatch) as raised:
        apply_gradient(np.zeros(3), np.zeros(4), 0.1)

    assert (raised.value.expected, raised.value.found) == ((3,), (4,))


@pytest.mark.parametrize("learning_rate", [0.0, -0.1, float("nan"), float("inf")])
def test_applying_a_gradient_needs_a_positive_finite_learning_rate(learning_rate: float) -> None:
    with pytest.raises(ValueError, match="learning rate must be positive and finite"):
        apply_gradient(np.zeros(3), np.zeros(3), learning_rate)


def test_non_finite_features_are_refused_with_their_count() -> None:
    with pytest.raises(NonFiniteInput) as raised:
        add_bias_column(np.array([[1.0, np.nan], [np.inf, 0.0]]))

    assert (raised.value.what, raised.value.count) == ("features", 2)


def test_weights_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ShapeMismatch) as raised:
        predict(np.zeros(2), np.zeros((4, 2)))

    assert (raised.value.expected, raised.value.found) == ((3,), (2,))


def test_targets_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ShapeMismatch) as raised:
        plaintext_gradient(np.zeros(3), np.zeros((4, 2)), np.zeros(5))

    assert raised.value.what == "targets shape"
