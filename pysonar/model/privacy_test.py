from __future__ import annotations

import math

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.model.gradient import ShardStatistics
from pysonar.model.privacy import (
    PrivacyBudget,
    analytic_gaussian_sigma,
    clip_rows,
    private_statistics,
)


def budget(**changes: object) -> PrivacyBudget:
    values = dict(
        epsilon=1.0, delta=1e-5, mechanism="gaussian", feature_norm=0.3, target_bound=350.0
    )
    values.update(changes)
    return PrivacyBudget(**values)  # type: ignore[arg-type]


def test_the_analytic_sigma_is_the_classic_one_or_smaller_and_meets_delta_exactly() -> None:
    for epsilon in (0.1, 0.5, 0.9):
        classic = math.sqrt(2 * math.log(1.25 / 1e-5)) / epsilon
        assert analytic_gaussian_sigma(epsilon, 1e-5, 1.0) <= classic
    # Theorem 8's condition holds at sigma and fails just below it.
    sigma = analytic_gaussian_sigma(2.0, 1e-6, 3.0)

    def leak(s: float) -> float:
        phi = lambda v: 0.5 * math.erfc(-v / math.sqrt(2))  # noqa: E731
        a, b = 3.0 / (2 * s), 2.0 * s / 3.0
        return phi(a - b) - math.exp(2.0) * phi(-a - b)

    assert leak(sigma) <= 1e-6 < leak(sigma * (1 - 1e-6))
    # More budget, less noise, up to budgets whose e^epsilon overflows a float.
    sigmas = [analytic_gaussian_sigma(e, 1e-6, 1.0) for e in (1.0, 8.0, 256.0, 2048.0)]
    assert sigmas == sorted(sigmas, reverse=True) and sigmas[-1] > 0


def test_rows_are_clipped_to_the_declared_bounds() -> None:
    features = np.array([[3.0, 4.0], [0.06, 0.08]])
    targets = np.array([-1000.0, 20.0])
    x, y = clip_rows(features, targets, budget(feature_norm=0.5, target_bound=100.0))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), [0.5, 0.1])
    np.testing.assert_allclose(y, [-100.0, 20.0])


def test_replacing_one_row_moves_the_exact_sums_by_at_most_the_sensitivity() -> None:
    # The sensitivity the noise is calibrated to bounds what one replaced row can change.
    rng = np.random.default_rng(4)
    gaussian = budget(feature_norm=0.3, target_bound=50.0)
    laplace = budget(feature_norm=0.3, target_bound=50.0, mechanism="laplace", delta=0.0)
    for _ in range(50):
        features = rng.normal(0, 1, (8, 3))
        targets = rng.normal(0, 200, 8)
        other_features, other_targets = features.copy(), targets.copy()
        other_features[2] = rng.normal(0, 5, 3)
        other_targets[2] = rng.normal(0, 500)

        def released(f: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x, y = clip_rows(f, t, gaussian)
            z = np.column_stack([x, np.ones(len(y))])
            return (z.T @ z)[np.triu_indices(4)], z.T @ y

        (gram, moment), (other_gram, other_moment) = (
            released(features, targets),
            released(other_features, other_targets),
        )
        l2_gram, l2_moment = gaussian.sensitivities(3)
        l1_gram, l1_moment = laplace.sensitivities(3)
        assert np.linalg.norm(gram - other_gram) <= l2_gram + 1e-9
        assert np.linalg.norm(moment - other_moment) <= l2_moment + 1e-9
        assert np.sum(np.abs(gram - other_gram)) <= l1_gram + 1e-9
        assert np.sum(np.abs(moment - other_moment)) <= l1_moment + 1e-9


@pytest.mark.parametrize("mechanism,delta", [("gaussian", 1e-5), ("laplace", 0.0)])
def test_one_release_has_the_calibrated_noise_and_a_symmetric_gram(
    mechanism: str, delta: float
) -> None:
    data = diabetes.load()
    limits = budget(mechanism=mechanism, delta=delta, epsilon=4.0)
    exact_x, exact_y = clip_rows(data.features, data.targets, limits)
    exact = ShardStatistics.from_data(exact_x, exact_y)
    gram_noise, moment_noise = [], []
    upper = np.triu_indices(11)
    for seed in range(40):
        release = private_statistics(
            data.features, data.targets, limits, rng=np.random.default_rng(seed)
        )
        assert np.array_equal(release.gram, release.gram.T)
        assert release.gram[-1, -1] == 1.0  # the row count, released exact
        gram_noise.append((release.gram - exact.gram)[upper][:-1])
        moment_noise.append(release.moment - exact.moment)
    spread = math.sqrt(2) if mechanism == "laplace" else 1.0  # a Laplace(b)'s sd is b sqrt 2
    for noise, scale in zip((gram_noise, moment_noise), limits.noise_scales(10)):
        found = np.std(np.array(noise) * data.row_count)
        assert 0.8 * scale * spread < found < 1.2 * scale * spread


def test_the_same_generator_state_gives_the_same_release_and_more_budget_less_noise() -> None:
    data = diabetes.load()

    def error(epsilon: float, seed: int) -> float:
        limits = budget(epsilon=epsilon)
        x, y = clip_rows(data.features, data.targets, limits)
        exact = ShardStatistics.from_data(x, y)
        release = private_statistics(
            data.features, data.targets, limits, rng=np.random.default_rng(seed)
        )
        return float(np.abs(release.moment - exact.moment).max())

    assert error(1.0, 3) == error(1.0, 3)
    assert error(8.0, 3) < error(1.0, 3)


def test_budgets_that_promise_nothing_are_refused() -> None:
    with pytest.raises(ValueError, match="epsilon"):
        budget(epsilon=0.0)
    with pytest.raises(ValueError, match="delta"):
        budget(delta=0.0)
    with pytest.raises(ValueError, match="pure epsilon-DP"):
        budget(mechanism="laplace", delta=1e-5)
    with pytest.raises(ValueError, match="mechanism"):
        budget(mechanism="uniform")
