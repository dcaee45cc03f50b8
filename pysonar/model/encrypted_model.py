"""The encrypted linear model a data scientist posts: Enc(weights) plus what mines need.

`EncryptedModel` is the in-memory form of the model object on IPFS (`pysonar.formats.codec`):
the weights (d features then the bias, see `pysonar.model.linear_regression`) encrypted under the
data scientist's public key with one shared exponent, the bound every weight is promised
to respect (mines need it to bound their results), the learning rate and the version.

The weight exponent follows from the bound: `WEIGHT_PRECISION_BITS` bits of resolution
below it. A tighter bound therefore means finer resolution, not bigger plaintexts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from phe.paillier import PaillierPrivateKey, PaillierPublicKey

from pysonar.crypto import fixed_point
from pysonar.crypto.encrypted_vector import EncryptedVector, decrypt_vector, encrypt_vector
from pysonar.crypto.obfuscation import ObfuscationPool
from pysonar.errors import NonFiniteInput, ShapeMismatch, WeightOutOfBound
from pysonar.formats.strict_json import is_integer

# Weights are encoded to 2**-64 of the declared bound: far below float64's resolution of
# any weight near the bound, and only 64 bits of mantissa for the guards to account for.
WEIGHT_PRECISION_BITS = 64
# Model versions are the contract's uint32 versions.
MAX_MODEL_VERSION = 2**32 - 1


@dataclass(frozen=True)
class EncryptedModel:
    """A linear model whose weights only the holder of the private key can read.

    Attributes:
        weights: Enc(w), feature_count + 1 components, the bias last.
        feature_count: d, the number of features (without the bias).
        weight_bound: every weight is within +/- this bound (promised by the data
            scientist, relied on by the mines' overflow guards).
        learning_rate: the step the data scientist applies gradients with.
        model_version: the contract's version of the model these weights are.
    """

    weights: EncryptedVector
    feature_count: int
    weight_bound: float
    learning_rate: float
    model_version: int

    def __post_init__(self) -> None:
        if len(self.weights) != self.feature_count + 1:
            raise ShapeMismatch(
                what="encrypted weight count",
                expected=self.feature_count + 1,
                found=len(self.weights),
            )

    @property
    def public_key(self) -> PaillierPublicKey:
        """The key the weights are encrypted under."""
        return self.weights.public_key

    @property
    def weight_mantissa_bound(self) -> int:
        """The largest magnitude of an encrypted weight's mantissa."""
        return fixed_point.mantissa_bound(self.weight_bound, self.weights.exponent)


def weight_exponent(weight_bound: float) -> int:
    """Return the shared exponent used for weights within +/-`weight_bound`."""
    return fixed_point.exponent_for(weight_bound, precision_bits=WEIGHT_PRECISION_BITS)


def encrypt_model(
    weights: np.ndarray,
    public_key: PaillierPublicKey,
    *,
    weight_bound: float,
    learning_rate: float,
    model_version: int = 0,
    pool: ObfuscationPool | None = None,
) -> EncryptedModel:
    """Encrypt plaintext weights (features then bias) into a model ready to post.

    Parameters:
        weights: d + 1 finite weights, the bias last.
        public_key: the data scientist's public key.
        weight_bound: a bound on every weight's magnitude, now and for this version.
        learning_rate: the gradient-descent step, positive and finite.
        model_version: the contract's version number for these weights.
        pool: precomputed randomness for the encryption; None computes it now.

    Returns:
        The encrypted model.

    Raises:
        ShapeMismatch: `weights` is not a vector of at least two entries.
        NonFiniteInput: a weight is NaN or infinite.
        WeightOutOfBound: a weight exceeds `weight_bound`.
        ValueError: `weight_bound` or `learning_rate` not positive and finite, or
            `model_version` outside [0, 2**32).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] < 2:
        raise ShapeMismatch(what="weights shape", expected="(d + 1,) with d >= 1", found=w.shape)
    bad = int(np.count_nonzero(~np.isfinite(w)))
    if bad:
        raise NonFiniteInput(what="weights", count=bad)
    for name, value in (("weight bound", weight_bound), ("learning rate", learning_rate)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive and finite, not {value!r}")
    if not is_integer(model_version) or not 0 <= model_version <= MAX_MODEL_VERSION:
        raise ValueError(
            f"model version must be in [0, {MAX_MODEL_VERSION}], not {model_version!r}"
        )
    for index, value in enumerate(w):
        if abs(value) > weight_bound:
            raise WeightOutOfBound(index=index, value=float(value), bound=weight_bound)
    encrypted = encrypt_vector(w, public_key, exponent=weight_exponent(weight_bound), pool=pool)
    return EncryptedModel(
        weights=encrypted,
        feature_count=w.shape[0] - 1,
        weight_bound=float(weight_bound),
        learning_rate=float(learning_rate),
        model_version=model_version,
    )


def decrypt_weights(model: EncryptedModel, private_key: PaillierPrivateKey) -> np.ndarray:
    """Decrypt the model's weights (features then bias) to float64.

    Raises:
        KeyMismatch: `private_key` is not the model's.
    """
    return decrypt_vector(model.weights, private_key)
