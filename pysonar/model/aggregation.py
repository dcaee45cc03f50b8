"""The data scientist's side of a round: decrypt gradients, one at a time or summed first.

Decryption is the data scientist's expensive step (two exponentiations modulo p**2 and q**2
per value). Summing k encrypted gradients homomorphically before decrypting costs a few
modular products and turns k (d + 1) decryptions into d + 1. Weighted by the mines'
declared row counts, the decrypted sum divided by the total row count is the gradient of
the union of the shards.

What summing gives up: a single gradient can no longer be attributed or judged on its own,
and one dishonest mine's gradient corrupts the whole sum. The contract pays per gradient,
so payment decisions need `decrypt_gradient` on each; summing is for training rounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from phe.paillier import PaillierPrivateKey

from pysonar.crypto import fixed_point
from pysonar.crypto.encrypted_vector import (
    EncryptedVector,
    decrypt_mantissas,
    decrypt_vector,
    weighted_sum,
)
from pysonar.errors import ModelMismatch
from pysonar.model.gradient import EncryptedGradient


def decrypt_gradient(gradient: EncryptedGradient, private_key: PaillierPrivateKey) -> np.ndarray:
    """Decrypt one mine's gradient to float64 (features then bias).

    A masked gradient is reduced modulo 2**T (`pysonar.model.gradient`); an honest one
    decrypts exactly as if it had not been masked.

    Raises:
        KeyMismatch: `private_key` is not the gradient's key.
        DecryptionOverflow: the mine's computation overflowed (unmasked gradients).
    """
    return decrypt_vector(gradient.values, private_key, mask_bits=gradient.mask_bits)


def sum_gradients(
    gradients: Sequence[EncryptedGradient], *, weight_by_rows: bool = False
) -> EncryptedVector:
    """Add encrypted gradients of one model version without decrypting them.

    Parameters:
        gradients: at least one gradient, all for the same model id and version.
        weight_by_rows: multiply each gradient by its row count first, so that the
            decrypted sum divided by the total row count is the union's gradient.

    Returns:
        Enc(sum), at the smallest of the gradients' exponents, not obfuscated.

    Raises:
        ValueError: no gradients, or masked ones (computed with `mask=True`).
        ModelMismatch: gradients for different models or model versions.
        KeyMismatch: gradients under different keys.
        ShapeMismatch: gradients of different lengths.
        OverflowRiskError: the weighted sum could overflow the key.
    """
    if not gradients:
        raise ValueError("sum_gradients needs at least one gradient")
    if any(gradient.mask_bits for gradient in gradients):
        # Each masked plaintext spans most of Z_n: a sum wraps around n and is lost.
        raise ValueError("masked gradients cannot be summed; decrypt each one on its own")
    first = gradients[0]
    for gradient in gradients[1:]:
        if gradient.model_id != first.model_id:
            raise ModelMismatch(what="model id", expected=first.model_id, found=gradient.model_id)
        if gradient.model_version != first.model_version:
            raise ModelMismatch(
                what="model version", expected=first.model_version, found=gradient.model_version
            )
    weights = [g.row_count for g in gradients] if weight_by_rows else None
    return weighted_sum([g.values for g in gradients], weights)


def decrypt_mean_gradient(
    gradients: Sequence[EncryptedGradient], private_key: PaillierPrivateKey
) -> np.ndarray:
    """Return the gradient over the union of the mines' shards, with one decryption per weight.

    That is sum_k n_k g_k / sum_k n_k for gradients g_k over n_k rows, summed encrypted
    (see `sum_gradients`) and decrypted once.

    Raises:
        The errors of `sum_gradients` and of decryption.
    """
    total = sum_gradients(gradients, weight_by_rows=True)
    rows = sum(g.row_count for g in gradients)
    # Divide the exact integer mantissas, so the result is rounded once, not twice.
    return np.array(
        [
            (
                fixed_point.decode(m, total.exponent) / rows
                if total.exponent >= 0
                else m / (rows * fixed_point.BASE**-total.exponent)
            )
            for m in decrypt_mantissas(total, private_key)
        ],
        dtype=np.float64,
    )
