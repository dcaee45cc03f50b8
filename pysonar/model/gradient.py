"""The mine's side: a linear-regression gradient on its own data against encrypted weights.

The gradient (X^T X / n) w - X^T y / n depends on the data only through the shard's
sufficient statistics A = X^T X / n and b = X^T y / n (with the bias column in X). A mine
computes them once (`ShardStatistics.from_data`), encodes A with ONE shared exponent, and
for each model version returns Enc(A w - b) = prod_j Enc(w_j)**A_ij * Enc(-b_i): (d + 1)**2
exponentiations whatever the row count, then one re-randomisation per component from an
`ObfuscationPool`. `encrypted_gradient_row_by_row` computes the same gradient the way the
original PySonar did, row by row (2 n (d + 1) exponentiations), as the benchmark's reference.

Both refuse, before any exponentiation, inputs whose result could overflow the key:
Paillier plaintexts wrap around modulo n and phe decrypts an overflowed value silently
wrong. The bound is exact integer arithmetic on the mantissas actually used: for a row M_i
of the integer matrix, offset c_i and weight mantissas bounded by W (from the model's
declared weight bound), |result_i| <= sum_j |M_ij| W + |c_i|, which must stay within
`plaintext_limit` (phe's max_int, about n/3, less `HEADROOM_BITS` bits kept so that sums of
gradients cannot wrap either).

Masking. The mine cannot see the weights, so it cannot tell an honest model from one
whose plaintext weights break the declared bound (for example weight j = 2**(160 + 80 j),
which would return every entry of A in its own bit range). It refuses a model whose
exponent is not the one its declared bound implies, and it masks every returned value
above the bits an honest one can occupy: with B the exact bound on an honest result's
mantissa and T = bitlength(B) + 1, it returns m + 2**(T-1) + 2**T r, with r fresh and
uniform in [0, floor(n / 2**T)). An honest m (|m| <= B < 2**(T-1)) never wraps around n,
and the key holder gets it back exactly as the plaintext modulo 2**T, less 2**(T-1)
(`EncryptedGradient.mask_bits` carries T). Of a dishonest result, the key holder learns
its value modulo 2**T; for the part above, the masked plaintext's distribution moves by at
most h / floor(n / 2**T) in statistical distance when that part is h rather than 0: below
bit log2(n) - MASK_MARGIN_BITS it is hidden to 2**-80, and above, only the coarse position
of h within the key's range shows (FORMATS.md). The mine refuses to answer a key too small
to leave MASK_MARGIN_BITS bits above T.

Privacy note: an honest gradient is exact, so over d + 1 model versions the key holder can
still solve for a mine's A and b (d + 1 linear equations per version).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from phe.paillier import PaillierPublicKey

from pysonar.crypto import fixed_point
from pysonar.crypto.encrypted_vector import EncryptedVector, linear_map, plaintext_limit
from pysonar.crypto.obfuscation import ObfuscationPool
from pysonar.errors import ModelMismatch, NonFiniteInput, OverflowRiskError, ShapeMismatch
from pysonar.formats.strict_json import SAFE_INTEGER_MAX, is_integer
from pysonar.model.encrypted_model import EncryptedModel, weight_exponent
from pysonar.model.linear_regression import add_bias_column, as_targets
from sonar.units import ModelId

# Resolution of the encoded statistics below their largest entry: the error this adds to
# the gradient is about 2**-65 of max|A| * max|w|, far below float64 rounding of A w.
STATISTICS_PRECISION_BITS = 64
# Row counts travel in the gradient object; 2**32 - 1 rows is more than any shard here.
MAX_ROW_COUNT = 2**32 - 1
# Bits of the key's plaintext range kept above a masked value's T bits: the statistical
# margin of the mask (see the module's docstring).
MASK_MARGIN_BITS = 80


@dataclass(frozen=True, eq=False)
class ShardStatistics:
    """A shard's sufficient statistics for linear regression, plain and encoded.

    Attributes:
        row_count: n, the shard's number of rows.
        gram: A = X^T X / n with the bias column, float64 (d + 1, d + 1), read-only.
        moment: b = X^T y / n with the bias column, float64 (d + 1,), read-only.
        gram_exponent: the exponent shared by every entry of A's encoding.
        gram_mantissas: A's integer mantissas at `gram_exponent`, row by row.
    """

    row_count: int
    gram: np.ndarray
    moment: np.ndarray
    gram_exponent: int
    gram_mantissas: tuple[tuple[int, ...], ...]

    @property
    def feature_count(self) -> int:
        """d, the number of features (without the bias)."""
        return self.gram.shape[0] - 1

    @classmethod
    def from_data(
        cls,
        features: np.ndarray,
        targets: np.ndarray,
        *,
        precision_bits: int = STATISTICS_PRECISION_BITS,
    ) -> ShardStatistics:
        """Compute and encode a shard's statistics; do it once per shard, not per round.

        Parameters:
            features: the shard's features, (n, d), without a bias column.
            targets: the shard's targets, (n,).
            precision_bits: resolution of A's encoding below its largest entry.

        Returns:
            The statistics.

        Raises:
            ShapeMismatch: inconsistent shapes, or no rows.
            NonFiniteInput: NaN or infinite features or targets.
        """
        design = add_bias_column(features)
        rows = design.shape[0]
        if rows == 0 or rows > MAX_ROW_COUNT:
            raise ShapeMismatch(what="row count", expected=f"1 to {MAX_ROW_COUNT}", found=rows)
        y = as_targets(targets, rows)
        return cls.from_moments(
            design.T @ design / rows, design.T @ y / rows, rows, precision_bits=precision_bits
        )

    @classmethod
    def from_moments(
        cls,
        gram: np.ndarray,
        moment: np.ndarray,
        row_count: int,
        *,
        precision_bits: int = STATISTICS_PRECISION_BITS,
    ) -> ShardStatistics:
        """Encode given statistics (A, b) of `row_count` rows, e.g. a private release of them
        (`pysonar.model.privacy`).

        Raises:
            ShapeMismatch: A is not square, b's length differs, or the row count is out of
                range.
            NonFiniteInput: a non-finite entry.
        """
        gram = np.array(gram, dtype=np.float64)
        moment = np.array(moment, dtype=np.float64)
        size = gram.shape[0] if gram.ndim == 2 else -1
        if gram.shape != (size, size) or size < 2 or moment.shape != (size,):
            raise ShapeMismatch(
                what="statistics shapes",
                expected="A (k, k) and b (k,), k >= 2",
                found=f"{gram.shape} and {moment.shape}",
            )
        if not 1 <= row_count <= MAX_ROW_COUNT:
            raise ShapeMismatch(what="row count", expected=f"1 to {MAX_ROW_COUNT}", found=row_count)
        bad = int(np.count_nonzero(~np.isfinite(gram)) + np.count_nonzero(~np.isfinite(moment)))
        if bad:
            raise NonFiniteInput(what="statistics", count=bad)
        exponent = fixed_point.exponent_for(
            float(np.max(np.abs(gram))), precision_bits=precision_bits
        )
        mantissas = tuple(tuple(fixed_point.encode(row, exponent)) for row in gram)
        gram.setflags(write=False)
        moment.setflags(write=False)
        return cls(row_count, gram, moment, exponent, mantissas)


@dataclass(frozen=True)
class EncryptedGradient:
    """A mine's encrypted gradient, as published on IPFS (`pysonar.formats.codec`).

    Attributes:
        model_id: the contract's id of the model it is for.
        model_version: the model version whose weights it was computed against.
        row_count: the rows of the shard it came from (declared by the mine, unverifiable).
        values: Enc(gradient), feature_count + 1 components, the bias last; masked above
            bit `mask_bits` when that is not 0.
        mask_bits: T of the mask (module docstring), or 0 for exact values.
    """

    model_id: ModelId
    model_version: int
    row_count: int
    values: EncryptedVector
    mask_bits: int = 0


def encrypted_gradient(
    model: EncryptedModel,
    statistics: ShardStatistics,
    *,
    model_id: ModelId,
    pool: ObfuscationPool | None = None,
    mask: bool = True,
) -> EncryptedGradient:
    """Compute Enc((X^T X / n) w - X^T y / n) from Enc(w) and the shard's statistics.

    This is the function a mine calls for every model version it answers.

    Parameters:
        model: the model as read from IPFS.
        statistics: the shard's `ShardStatistics`.
        model_id: the contract's id of `model`.
        pool: precomputed re-randomising factors for the model's key (d + 1 are used);
            None computes them now, which dominates the cost at 2048 bits.
        mask: mask every value above the bits an honest one occupies (module docstring);
            False only for gradients to be summed before decrypting (`aggregation`).

    Returns:
        The gradient, every ciphertext obfuscated.

    Raises:
        ModelMismatch: the model's exponent is not the one its declared bound implies.
        ShapeMismatch: the shard's feature count differs from the model's.
        OverflowRiskError: the result could exceed the key's plaintext range, or the key
            leaves no room for the mask's margin.
        ValueError: `model_id` is not an integer in [0, 2**53).
    """
    _check_model_id(model_id)
    _check_weight_exponent(model)
    if statistics.feature_count != model.feature_count:
        raise ShapeMismatch(
            what="feature count", expected=model.feature_count, found=statistics.feature_count
        )
    result_exponent = statistics.gram_exponent + model.weights.exponent
    offset = [-b for b in fixed_point.encode(statistics.moment, result_exponent)]
    bounds = row_bounds(
        statistics.gram_mantissas, offset, [model.weight_mantissa_bound] * len(model.weights)
    )
    check_bounds(
        bounds,
        model.public_key,
        details=(
            f"max |X^T X / n| {np.max(np.abs(statistics.gram)):.3g} at exponent "
            f"{statistics.gram_exponent}, max |X^T y / n| {np.max(np.abs(statistics.moment)):.3g}"
            f", weights within {model.weight_bound:.3g} at exponent {model.weights.exponent}"
        ),
    )
    mask_bits = mask_bits_for(bounds, model.public_key) if mask else 0
    values = linear_map(
        model.weights,
        statistics.gram_mantissas,
        matrix_exponent=statistics.gram_exponent,
        offset=_masked(offset, mask_bits, model.public_key),
    )
    return EncryptedGradient(
        model_id=model_id,
        model_version=model.model_version,
        row_count=statistics.row_count,
        values=values.obfuscate(pool),
        mask_bits=mask_bits,
    )


def encrypted_gradient_row_by_row(
    model: EncryptedModel,
    features: np.ndarray,
    targets: np.ndarray,
    *,
    model_id: ModelId,
    pool: ObfuscationPool | None = None,
    precision_bits: int = STATISTICS_PRECISION_BITS,
    mask: bool = True,
) -> EncryptedGradient:
    """Compute the same gradient row by row, the original PySonar's way (the reference).

    For each row i, Enc(r_i) = Enc(x_i . w - y_i), then the gradient accumulates
    Enc(r_i) ** (x_ij / n): 2 n (d + 1) exponentiations, on the same primitives and
    encodings as `encrypted_gradient` so that a benchmark compares methods, not code.

    Parameters:
        model: the model as read from IPFS.
        features: the shard's features, (n, d).
        targets: the shard's targets, (n,).
        model_id: the contract's id of `model`.
        pool: precomputed re-randomising factors (d + 1 are used), or None.
        precision_bits: resolution of X's and X / n's encodings below their largest entry.
        mask: as `encrypted_gradient`.

    Returns:
        The gradient, every ciphertext obfuscated.

    Raises:
        ShapeMismatch: inconsistent shapes, or a feature count differing from the model's.
        NonFiniteInput: NaN or infinite data.
        OverflowRiskError: a residual or the result could exceed the key's plaintext range.
        ValueError: `model_id` is not an integer in [0, 2**53).
    """
    _check_model_id(model_id)
    _check_weight_exponent(model)
    design = add_bias_column(features)
    rows, columns = design.shape
    if columns != len(model.weights):
        raise ShapeMismatch(what="feature count", expected=model.feature_count, found=columns - 1)
    if rows == 0 or rows > MAX_ROW_COUNT:
        raise ShapeMismatch(what="row count", expected=f"1 to {MAX_ROW_COUNT}", found=rows)
    y = as_targets(targets, rows)
    largest = float(np.max(np.abs(design)))
    x_exponent = fixed_point.exponent_for(largest, precision_bits=precision_bits)
    scaled_exponent = fixed_point.exponent_for(largest / rows, precision_bits=precision_bits)
    x_mantissas = [fixed_point.encode(row, x_exponent) for row in design]
    # The second product multiplies by x_ij / n, transposed: one row per gradient component.
    scaled_mantissas = [fixed_point.encode(column, scaled_exponent) for column in design.T / rows]
    residual_exponent = model.weights.exponent + x_exponent
    negated_targets = [-m for m in fixed_point.encode(y, residual_exponent)]

    details = (
        f"max |x| {largest:.3g}, max |y| {np.max(np.abs(y)):.3g}, "
        f"weights within {model.weight_bound:.3g}, row by row over {rows} rows"
    )
    residual_bounds = row_bounds(
        x_mantissas, negated_targets, [model.weight_mantissa_bound] * columns
    )
    check_bounds(residual_bounds, model.public_key, details=details)
    result_bounds = row_bounds(scaled_mantissas, None, residual_bounds)
    check_bounds(result_bounds, model.public_key, details=details)
    mask_bits = mask_bits_for(result_bounds, model.public_key) if mask else 0

    residuals = linear_map(
        model.weights, x_mantissas, matrix_exponent=x_exponent, offset=negated_targets
    )
    values = linear_map(
        residuals,
        scaled_mantissas,
        matrix_exponent=scaled_exponent,
        offset=_masked([0] * len(scaled_mantissas), mask_bits, model.public_key),
    )
    return EncryptedGradient(
        model_id=model_id,
        model_version=model.model_version,
        row_count=rows,
        values=values.obfuscate(pool),
        mask_bits=mask_bits,
    )


def row_bounds(
    matrix: Sequence[Sequence[int]], offset: Sequence[int] | None, input_bounds: Sequence[int]
) -> list[int]:
    """Bound each component of M v + c given |v_j| <= input_bounds[j]: sum_j |M_ij| b_j + |c_i|.

    Exact integer arithmetic, so the bound is conservative and never rounds down.
    """
    return [
        sum(abs(m) * bound for m, bound in zip(row, input_bounds))
        + (abs(offset[i]) if offset is not None else 0)
        for i, row in enumerate(matrix)
    ]


def check_bounds(bounds: Sequence[int], public_key: PaillierPublicKey, *, details: str) -> None:
    """Refuse a computation if any component bound exceeds `plaintext_limit(public_key)`.

    Raises:
        OverflowRiskError: with the largest bound, the limit and `details`.
    """
    limit = plaintext_limit(public_key)
    largest = max(bounds, default=0)
    if largest > limit:
        raise OverflowRiskError(
            bound=largest,
            limit=limit,
            details=f"{details}; {public_key.n.bit_length()}-bit key",
        )


def mask_bits_for(bounds: Sequence[int], public_key: PaillierPublicKey) -> int:
    """T for results bounded by `bounds`: the fewest bits holding any of them, plus a sign.

    Raises:
        OverflowRiskError: the key leaves fewer than MASK_MARGIN_BITS bits above T.
    """
    bits = max(bounds, default=0).bit_length() + 1
    room = public_key.n.bit_length() - 1 - bits
    if room < MASK_MARGIN_BITS:
        raise OverflowRiskError(
            bound=max(bounds, default=0),
            limit=1 << (public_key.n.bit_length() - 2 - MASK_MARGIN_BITS),
            details=f"the mask needs {MASK_MARGIN_BITS} bits of the key above the gradient's "
            f"{bits}; {public_key.n.bit_length()}-bit key",
        )
    return bits


def _masked(offset: Sequence[int], mask_bits: int, public_key: PaillierPublicKey) -> list[int]:
    """`offset` plus each component's mask, 2**(T-1) + 2**T r with r fresh and uniform in
    [0, floor(n / 2**T)); unchanged when `mask_bits` is 0."""
    if not mask_bits:
        return list(offset)
    window = public_key.n >> mask_bits
    half = 1 << (mask_bits - 1)
    return [c + half + (secrets.randbelow(window) << mask_bits) for c in offset]


def _check_weight_exponent(model: EncryptedModel) -> None:
    """A model whose exponent is not its bound's can carry weights far beyond the bound
    within the same mantissa range check: refuse it before computing anything."""
    expected = weight_exponent(model.weight_bound)
    if model.weights.exponent != expected:
        raise ModelMismatch(
            what="weight exponent for the declared weight bound",
            expected=expected,
            found=model.weights.exponent,
        )


def _check_model_id(model_id: int) -> None:
    if not is_integer(model_id) or not 0 <= model_id <= SAFE_INTEGER_MAX:
        raise ValueError(f"model id must be an integer in [0, 2**53), not {model_id!r}")
