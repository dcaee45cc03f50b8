"""Plaintext linear regression with a bias term: predictions, error, gradient, update.

The model is d + 1 weights: one per feature, then the bias LAST. Every function takes the
raw features (n, d) and appends the column of ones itself (`add_bias_column`), so the bias
is an ordinary weight to the encrypted code as well. The loss is the mean squared error
(1/n) sum_i (x_i . w - y_i)**2; the gradient used throughout is half its derivative,
(X^T X / n) w - X^T y / n, the form the mines compute on encrypted weights.
"""

from __future__ import annotations

import numpy as np

from pysonar.errors import NonFiniteInput, ShapeMismatch


def add_bias_column(features: np.ndarray) -> np.ndarray:
    """Return `features` (n, d) with a column of ones appended, as float64 (n, d + 1).

    Raises:
        ShapeMismatch: `features` is not two-dimensional.
        NonFiniteInput: `features` holds NaN or an infinity.
    """
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2:
        raise ShapeMismatch(what="features dimensions", expected=2, found=matrix.ndim)
    _require_finite(matrix, "features")
    return np.hstack([matrix, np.ones((matrix.shape[0], 1))])


def predict(weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Return the predictions X w + bias for every row of `features`.

    Raises:
        ShapeMismatch: `weights` does not have d + 1 entries.
    """
    design = add_bias_column(features)
    return design @ _checked_weights(weights, design.shape[1])


def mean_squared_error(weights: np.ndarray, features: np.ndarray, targets: np.ndarray) -> float:
    """Return the mean squared error of the model on (`features`, `targets`).

    Raises:
        ShapeMismatch: inconsistent shapes.
        NonFiniteInput: non-finite inputs.
    """
    residuals = predict(weights, features) - as_targets(targets, np.shape(features)[0])
    return float(np.mean(residuals**2))


def plaintext_gradient(
    weights: np.ndarray, features: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Return (X^T X / n) w - X^T y / n in float64: the reference the encrypted paths match.

    Raises:
        ShapeMismatch: inconsistent shapes, or no rows.
        NonFiniteInput: non-finite inputs.
    """
    design = add_bias_column(features)
    rows = design.shape[0]
    if rows == 0:
        raise ShapeMismatch(what="row count", expected="at least 1", found=0)
    w = _checked_weights(weights, design.shape[1])
    y = as_targets(targets, rows)
    return (design.T @ (design @ w) - design.T @ y) / rows


def least_squares(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Return the weights (then the bias) that minimise the mean squared error on the rows:
    centralised training on the same model, which federated training aims to match.

    Raises:
        ShapeMismatch: inconsistent shapes, or no rows.
        NonFiniteInput: non-finite inputs.
    """
    design = add_bias_column(features)
    if design.shape[0] == 0:
        raise ShapeMismatch(what="row count", expected="at least 1", found=0)
    y = as_targets(targets, design.shape[0])
    return np.linalg.lstsq(design, y, rcond=None)[0]


def apply_gradient(weights: np.ndarray, gradient: np.ndarray, learning_rate: float) -> np.ndarray:
    """Return the weights after one gradient-descent step: w - learning_rate * gradient.

    Raises:
        ShapeMismatch: `gradient` and `weights` differ in shape.
        NonFiniteInput: non-finite weights or gradient.
        ValueError: `learning_rate` is not a positive finite number.
    """
    w = np.asarray(weights, dtype=np.float64)
    g = np.asarray(gradient, dtype=np.float64)
    if w.shape != g.shape:
        raise ShapeMismatch(what="gradient shape", expected=w.shape, found=g.shape)
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning rate must be positive and finite, not {learning_rate!r}")
    _require_finite(w, "weights")
    _require_finite(g, "gradient")
    return w - learning_rate * g


def _checked_weights(weights: np.ndarray, expected_length: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (expected_length,):
        raise ShapeMismatch(what="weights shape", expected=(expected_length,), found=w.shape)
    _require_finite(w, "weights")
    return w


def as_targets(targets: np.ndarray, rows: int) -> np.ndarray:
    """Return `targets` as a float64 vector of `rows` finite values.

    Raises:
        ShapeMismatch: `targets` is not of shape (rows,).
        NonFiniteInput: a target is NaN or infinite.
    """
    y = np.asarray(targets, dtype=np.float64)
    if y.shape != (rows,):
        raise ShapeMismatch(what="targets shape", expected=(rows,), found=y.shape)
    _require_finite(y, "targets")
    return y


def _require_finite(array: np.ndarray, what: str) -> None:
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise NonFiniteInput(what=what, count=bad)
