"""The update rules: gradient descent, and the preconditioned step with delay compensation."""

from __future__ import annotations

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.errors import ShapeMismatch
from pysonar.model.linear_regression import (
    add_bias_column,
    apply_gradient,
    mean_squared_error,
    plaintext_gradient,
)
from pysonar.model.optimizer import GradientDescent, PreconditionedStep


def least_squares(shard: diabetes.Shard) -> np.ndarray:
    design = add_bias_column(shard.features)
    return np.linalg.lstsq(design, shard.targets, rcond=None)[0]


def test_gradient_descent_ignores_the_version_and_steps_from_the_current_weights(
    weights: np.ndarray,
) -> None:
    gradient = np.linspace(-1, 1, 11)
    rule = GradientDescent(0.5)
    assert np.array_equal(
        rule.step(weights, gradient, np.zeros(11)), apply_gradient(weights, gradient, 0.5)
    )


def test_a_full_newton_step_with_the_shards_own_curvature_lands_on_its_least_squares_fit(
    diabetes_split: diabetes.Split,
) -> None:
    shard = diabetes_split.shards[0]
    rule = PreconditionedStep.from_rows(shard.features, learning_rate=1.0, damping=0.0)
    start = np.zeros(11)

    landed = rule.step(start, plaintext_gradient(start, shard.features, shard.targets), start)

    np.testing.assert_allclose(landed, least_squares(shard), rtol=1e-6)


def test_delay_compensation_turns_a_stale_gradient_into_the_fresh_one_when_curvatures_agree(
    diabetes_split: diabetes.Split, weights: np.ndarray
) -> None:
    shard = diabetes_split.shards[1]
    rule = PreconditionedStep.from_rows(shard.features, learning_rate=0.5, damping=1e-3)
    old, current = np.zeros(11), weights

    stale = rule.step(current, plaintext_gradient(old, shard.features, shard.targets), old)
    fresh = rule.step(current, plaintext_gradient(current, shard.features, shard.targets), current)

    np.testing.assert_allclose(stale, fresh, rtol=1e-9, atol=1e-9)


def test_averaging_steps_over_shards_fit_the_pooled_rows_about_as_well_as_least_squares(
    diabetes_split: diabetes.Split,
) -> None:
    # With lr < 1 the step averages the shards' pulls: the weights settle near the pooled
    # fit in every direction the data determines (the validation rows only estimate the
    # curvature, and the damping leaves the nearly collinear directions alone).
    rule = PreconditionedStep.from_rows(
        diabetes_split.validation.features, learning_rate=0.3, damping=1e-3
    )
    shards = diabetes_split.shards
    pooled = diabetes.Shard(
        np.vstack([s.features for s in shards]), np.concatenate([s.targets for s in shards])
    )
    w = np.zeros(11)
    for _ in range(60):
        for shard in shards:
            w = rule.step(w, plaintext_gradient(w, shard.features, shard.targets), w)
    fitted = mean_squared_error(w, pooled.features, pooled.targets)
    best = mean_squared_error(least_squares(pooled), pooled.features, pooled.targets)
    assert best <= fitted < 1.03 * best


@pytest.mark.parametrize(
    ("curvature", "learning_rate", "damping", "error"),
    [
        (np.eye(3)[:2], 0.5, 0.0, ShapeMismatch),
        (np.eye(3), 0.0, 0.0, ValueError),
        (np.eye(3), 0.5, -1.0, ValueError),
        (np.eye(3), float("nan"), 0.0, ValueError),
    ],
)
def test_a_nonsensical_step_is_refused(
    curvature: np.ndarray, learning_rate: float, damping: float, error: type[Exception]
) -> None:
    with pytest.raises(error):
        PreconditionedStep(curvature, learning_rate, damping)
