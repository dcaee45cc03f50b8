"""How the data scientist turns a decrypted gradient into new weights: the update rules.

The data scientist applies decrypted gradients in plaintext, so the update can be anything
that uses only the gradient and the data scientist's own data. Two rules:

- `GradientDescent`: w - lr * g, the textbook step. On the diabetes data it fits little
  more than the mean in a demo's few dozen steps: its features are scaled so that X^T X / n
  has eigenvalues near 1/442 for the features against 1 for the bias, and one learning rate
  cannot suit both.
- `PreconditionedStep` (the demo's choice): a damped Newton step whose curvature comes from
  the data scientist's validation rows, H = X_v^T X_v / n_v (bias column included), which
  estimates every shard's X^T X / n because the rows share one distribution:

      w' = w - lr * (H + damping * I)^-1 (g + H (w - w_g))

  where g was computed against the weights w_g of an earlier version and w is the current
  weights. `H (w - w_g)` is the delay compensation of asynchronous SGD (Zheng et al., 2017,
  "Asynchronous Stochastic Gradient Descent with Delay Compensation"): the gradient is
  linear in w, g(w) = g(w_g) + A (w - w_g), and H stands in for the mine's A, so a stale
  gradient is corrected to the current weights instead of pulling them back. With lr = 1
  and H = A, one step lands on the shard's own least-squares fit; lr < 1 averages the
  shards' pulls, which converges to the pooled fit. The damping keeps the step stable when
  H is estimated from few rows (H's smallest eigenvalues are then poorly known).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pysonar.errors import ShapeMismatch
from pysonar.model.linear_regression import add_bias_column, apply_gradient


class UpdateRule(Protocol):
    """Turns a decrypted gradient into the next weights."""

    def step(
        self, current: np.ndarray, gradient: np.ndarray, computed_against: np.ndarray
    ) -> np.ndarray:
        """The new weights.

        Parameters:
            current: the model's current weights.
            gradient: the decrypted gradient (features then bias).
            computed_against: the weights of the version the gradient was computed against
                (equal to `current` unless the gradient is stale).
        """
        ...


@dataclass(frozen=True)
class GradientDescent:
    """w - learning_rate * g, applied to the current weights whatever the gradient's version."""

    learning_rate: float

    def step(
        self, current: np.ndarray, gradient: np.ndarray, computed_against: np.ndarray
    ) -> np.ndarray:
        return apply_gradient(current, gradient, self.learning_rate)


@dataclass(frozen=True, eq=False)
class PreconditionedStep:
    """A damped Newton step with delay compensation; see the module docstring.

    Attributes:
        curvature: H, (d + 1, d + 1), symmetric positive semi-definite.
        learning_rate: lr, in (0, 1] for the averaging behaviour described above.
        damping: added to H's diagonal before inverting.
    """

    curvature: np.ndarray
    learning_rate: float
    damping: float

    def __post_init__(self) -> None:
        size = self.curvature.shape[0]
        if self.curvature.shape != (size, size):
            raise ShapeMismatch(
                what="curvature shape", expected="(d + 1, d + 1)", found=self.curvature.shape
            )
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning rate must be positive, not {self.learning_rate!r}")
        if not (np.isfinite(self.damping) and self.damping >= 0):
            raise ValueError(f"damping must be >= 0, not {self.damping!r}")

    @classmethod
    def from_rows(
        cls, features: np.ndarray, *, learning_rate: float, damping: float
    ) -> PreconditionedStep:
        """The step whose curvature is X^T X / n of `features` (n, d), bias column added."""
        design = add_bias_column(features)
        return cls(design.T @ design / design.shape[0], learning_rate, damping)

    def step(
        self, current: np.ndarray, gradient: np.ndarray, computed_against: np.ndarray
    ) -> np.ndarray:
        w = np.asarray(current, dtype=np.float64)
        compensated = np.asarray(gradient, dtype=np.float64) + self.curvature @ (
            w - np.asarray(computed_against, dtype=np.float64)
        )
        damped = self.curvature + self.damping * np.eye(self.curvature.shape[0])
        direction = np.linalg.solve(damped, compensated)
        return apply_gradient(w, direction, self.learning_rate)
