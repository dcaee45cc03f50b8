"""PySonar, the data scientist's library: keys, encrypted model and gradients, IPFS formats.

Re-exports the public API: Paillier keys (`pysonar.crypto.keys`), the encrypted linear model
(`pysonar.model.encrypted_model`), the mines' encrypted gradient (`pysonar.model.gradient`), summing
and decrypting gradients (`pysonar.model.aggregation`), the IPFS object formats
(`pysonar.formats.codec`, specified in FORMATS.md) and the contract's error scale
(`pysonar.model.error_scale`). The demo data lives in `pysonar.diabetes`, not re-exported because
it imports scikit-learn.
"""

from pysonar.crypto.encrypted_vector import (
    EncryptedVector,
    decrypt_vector,
    encrypt_vector,
    linear_map,
    plaintext_limit,
    weighted_sum,
)
from pysonar.crypto.keys import KeyPair, generate_keypair, key_fingerprint
from pysonar.crypto.obfuscation import ObfuscationPool
from pysonar.errors import (
    DecryptionOverflow,
    ErrorScaleError,
    InvalidObject,
    KeyMismatch,
    MalformedObject,
    MismatchError,
    ModelMismatch,
    NonFiniteInput,
    NonFiniteNumber,
    ObjectTooLarge,
    OverflowRiskError,
    PySonarError,
    SchemaViolation,
    ShapeMismatch,
    UnobfuscatedCiphertext,
    UnsupportedFormat,
    UnsupportedKeySize,
    ValueOutOfRange,
    WeightOutOfBound,
)
from pysonar.formats.codec import read_gradient, read_model, write_gradient, write_model
from pysonar.model.aggregation import decrypt_gradient, decrypt_mean_gradient, sum_gradients
from pysonar.model.encrypted_model import (
    EncryptedModel,
    decrypt_weights,
    encrypt_model,
    weight_exponent,
)
from pysonar.model.error_scale import ERROR_SCALE, ErrorScore, contract_to_mse, mse_to_contract
from pysonar.model.gradient import (
    EncryptedGradient,
    ShardStatistics,
    encrypted_gradient,
    encrypted_gradient_row_by_row,
)
from pysonar.model.linear_regression import (
    add_bias_column,
    apply_gradient,
    mean_squared_error,
    plaintext_gradient,
    predict,
)

__all__ = [
    "ERROR_SCALE",
    "ErrorScore",
    "DecryptionOverflow",
    "EncryptedGradient",
    "EncryptedModel",
    "EncryptedVector",
    "ErrorScaleError",
    "InvalidObject",
    "KeyMismatch",
    "KeyPair",
    "MalformedObject",
    "MismatchError",
    "ModelMismatch",
    "NonFiniteInput",
    "NonFiniteNumber",
    "ObfuscationPool",
    "ObjectTooLarge",
    "OverflowRiskError",
    "PySonarError",
    "SchemaViolation",
    "ShapeMismatch",
    "ShardStatistics",
    "UnobfuscatedCiphertext",
    "UnsupportedFormat",
    "UnsupportedKeySize",
    "ValueOutOfRange",
    "WeightOutOfBound",
    "add_bias_column",
    "apply_gradient",
    "contract_to_mse",
    "decrypt_gradient",
    "decrypt_mean_gradient",
    "decrypt_vector",
    "decrypt_weights",
    "encrypt_model",
    "encrypt_vector",
    "encrypted_gradient",
    "encrypted_gradient_row_by_row",
    "generate_keypair",
    "key_fingerprint",
    "linear_map",
    "mean_squared_error",
    "mse_to_contract",
    "plaintext_gradient",
    "plaintext_limit",
    "predict",
    "read_gradient",
    "read_model",
    "sum_gradients",
    "weight_exponent",
    "weighted_sum",
    "write_gradient",
    "write_model",
]
