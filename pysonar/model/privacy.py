"""A mine's opt-in differential privacy: its sufficient statistics, clipped, released once
with calibrated noise (sufficient-statistics perturbation).

An honest gradient is exact, so over d + 1 model versions the key holder can solve for a
mine's X^T X and X^T y. In this mode the mine never uses its exact statistics: it clips
every row (features to L2 norm `feature_norm`, the target to [-target_bound, target_bound]),
sums z z^T and z y over its rows (z = the features with the bias 1), adds noise ONCE, and
answers every model version from these noisy sums. Whatever the key holder does with any
number of gradients is post-processing of that one release, so the whole leakage is that
of one (epsilon, delta) mechanism.

Neighbouring data sets differ in one row, replaced (the row count, which travels in the
gradient object, is public, so the gram's bias-bias entry, the row count, is released
exact). The gram sum and the moment sum are released separately, each with half the
budget (epsilon / 2, delta / 2; composed, the pair is (epsilon, delta)-DP), because their
scales differ by the target's: one row's z z^T has Frobenius norm ||z||^2 <= c with
c = feature_norm^2 + 1, and its z y has L2 norm <= sqrt(c) target_bound, so replacing a
row moves the gram part by at most 2 c in L2 norm (2 s^2 in L1 norm, s = sqrt(d)
feature_norm + 1) and the moment part by at most 2 sqrt(c) target_bound (2 s target_bound
in L1 norm).

- Gaussian: noise N(0, sigma^2) per entry, sigma from the analytic Gaussian mechanism
  (Balle and Wang, 2018, Theorem 8), exact for any epsilon > 0 (the classic
  sqrt(2 ln(1.25 / delta)) / epsilon bound holds only for epsilon < 1).
- Laplace: noise Laplace(L1 sensitivity / (epsilon / 2)) per entry: pure epsilon-DP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pysonar.errors import ShapeMismatch
from pysonar.model.gradient import ShardStatistics
from pysonar.model.linear_regression import add_bias_column, as_targets

Mechanism = Literal["gaussian", "laplace"]
MECHANISMS: tuple[Mechanism, ...] = ("gaussian", "laplace")


@dataclass(frozen=True)
class PrivacyBudget:
    """What one release of a mine's statistics may leak, and how its rows are clipped.

    Attributes:
        epsilon: the privacy loss bound, > 0.
        delta: the failure probability, in (0, 1) for Gaussian noise; 0 for Laplace.
        mechanism: "gaussian" or "laplace".
        feature_norm: each row's features are scaled down to at most this L2 norm.
        target_bound: each target is clipped to [-target_bound, target_bound].
    """

    epsilon: float
    delta: float
    mechanism: Mechanism
    feature_norm: float
    target_bound: float

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"mechanism must be one of {MECHANISMS}, not {self.mechanism!r}")
        for name in ("epsilon", "feature_norm", "target_bound"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite, not {value!r}")
        if self.mechanism == "gaussian" and not 0 < self.delta < 1:
            raise ValueError(f"Gaussian noise needs delta in (0, 1), not {self.delta!r}")
        if self.mechanism == "laplace" and self.delta != 0:
            raise ValueError(f"Laplace noise is pure epsilon-DP: delta must be 0, not {self.delta}")

    def sensitivities(self, feature_count: int) -> tuple[float, float]:
        """How far replacing one row moves the gram part and the moment part: L2 norms for
        Gaussian noise, L1 norms for Laplace noise."""
        c = self.feature_norm**2 + 1
        if self.mechanism == "laplace":
            s = math.sqrt(feature_count) * self.feature_norm + 1
            return 2 * s * s, 2 * s * self.target_bound
        return 2 * c, 2 * math.sqrt(c) * self.target_bound

    def noise_scales(self, feature_count: int) -> tuple[float, float]:
        """The Gaussian sigma, or the Laplace scale b, per entry of the gram part and of the
        moment part, each released with half the budget."""
        epsilon, delta = self.epsilon / 2, self.delta / 2
        gram, moment = self.sensitivities(feature_count)
        if self.mechanism == "laplace":
            return gram / epsilon, moment / epsilon
        return (
            analytic_gaussian_sigma(epsilon, delta, gram),
            analytic_gaussian_sigma(epsilon, delta, moment),
        )


def clip_rows(
    features: np.ndarray, targets: np.ndarray, budget: PrivacyBudget
) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to the budget's feature norm, targets clipped to its bound."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ShapeMismatch(what="features shape", expected="(n, d) with n >= 1", found=x.shape)
    y = as_targets(targets, x.shape[0])
    norms = np.linalg.norm(x, axis=1)
    scale = np.minimum(1.0, budget.feature_norm / np.maximum(norms, 1e-300))
    return x * scale[:, None], np.clip(y, -budget.target_bound, budget.target_bound)


def private_statistics(
    features: np.ndarray,
    targets: np.ndarray,
    budget: PrivacyBudget,
    *,
    rng: np.random.Generator,
) -> ShardStatistics:
    """One (epsilon, delta) release of a shard's statistics: clipped, summed, noised once.

    The gram noise is drawn for the upper triangle and mirrored, so the released gram is
    symmetric, as the exact one is; its bias-bias entry (the row count) is exact. Reuse the
    result for every model version: another call is another release, and spends the budget
    again.
    """
    x, y = clip_rows(features, targets, budget)
    design = add_bias_column(x)
    rows, columns = design.shape
    gram_scale, moment_scale = budget.noise_scales(columns - 1)
    draw = rng.laplace if budget.mechanism == "laplace" else rng.normal
    gram_noise = np.triu(draw(0.0, gram_scale, (columns, columns)))
    gram_noise[-1, -1] = 0.0  # the bias-bias entry is the row count: public
    noisy_gram = design.T @ design + gram_noise + np.triu(gram_noise, 1).T
    noisy_moment = design.T @ y + draw(0.0, moment_scale, columns)
    return ShardStatistics.from_moments(noisy_gram / rows, noisy_moment / rows, rows)


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """The smallest sigma for which N(0, sigma^2) noise on a query of L2 `sensitivity` is
    (epsilon, delta)-DP (Balle and Wang 2018, Theorem 8), found by bisection to 1e-12.

    The mechanism is (epsilon, delta)-DP iff
    Phi(D / (2 sigma) - epsilon sigma / D) - e^epsilon Phi(-D / (2 sigma) - epsilon sigma / D)
    <= delta, and the left side decreases as sigma grows.
    """

    def leak(sigma: float) -> float:
        a = sensitivity / (2 * sigma)
        b = epsilon * sigma / sensitivity
        tail = _phi(-a - b)
        # e^epsilon overflows a float beyond epsilon ~ 709; the product does not.
        return _phi(a - b) - (math.exp(min(epsilon + math.log(tail), 700.0)) if tail else 0.0)

    low, high = 1e-12 * sensitivity, sensitivity
    while leak(high) > delta:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if leak(middle) > delta:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return high


def _phi(value: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-value / math.sqrt(2))
