"""PySonar's exceptions: one root, one class per kind of problem, each carrying its data.

Every exception derives from `PySonarError` and from the builtin whose meaning it shares
(`ValueError` for bad input, `OverflowError` for magnitude problems), so callers may catch
either. Two families matter to a daemon that reads objects from IPFS:

- `InvalidObject` and its subclasses: an object's bytes are not a valid object of the format
  (too large, not JSON, wrong schema, a value out of range, an unknown format version);
- `MismatchError` and its subclasses: a valid object (or in-memory value) does not belong
  with another one (a gradient under another key, for another model, of another shape).

Catching `(InvalidObject, MismatchError)` rejects every bad object and nothing else.
"""

from __future__ import annotations


class PySonarError(Exception):
    """Root of every exception PySonar raises on purpose."""


# --- Objects read from IPFS -------------------------------------------------------------


class InvalidObject(PySonarError, ValueError):
    """An object's bytes are not a valid object of the format they claim."""


class ObjectTooLarge(InvalidObject):
    """An object is larger than the limit for it; it was neither parsed nor fully read.

    `size` is None when the object was cut off while being read, its size unknown; `cid`
    names the IPFS object when it came from IPFS.
    """

    def __init__(self, *, kind: str, limit: int, size: int | None, cid: str | None = None) -> None:
        self.kind = kind
        self.limit = limit
        self.size = size
        self.cid = cid
        what = f"{kind} object {cid}" if cid else f"{kind} object"
        actual = f"{size} bytes" if size is not None else "more bytes"
        super().__init__(f"{what} has {actual}, more than the maximum of {limit} bytes")


class MalformedObject(InvalidObject):
    """An object's bytes are not strict JSON (truncated, not UTF-8, a pickle, ...)."""

    def __init__(self, *, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind} object is not valid JSON: {reason}")


class SchemaViolation(InvalidObject):
    """A JSON value has the wrong type, or an object has missing or extra keys."""

    def __init__(self, *, path: str, expected: str, found: str) -> None:
        self.path = path
        self.expected = expected
        self.found = found
        super().__init__(f"{path}: expected {expected}, found {found}")


class NonFiniteNumber(InvalidObject):
    """A JSON number is NaN or infinite (`NaN`, `Infinity`, or a literal like `1e400`)."""

    def __init__(self, *, found: str) -> None:
        self.found = found
        super().__init__(f"non-finite number {found!r}: only finite numbers are allowed")


class ValueOutOfRange(InvalidObject):
    """A JSON value has the right type but a value the format does not allow."""

    def __init__(self, *, path: str, expected: str, found: str) -> None:
        self.path = path
        self.expected = expected
        self.found = found
        super().__init__(f"{path}: expected {expected}, found {found}")


class UnsupportedFormat(InvalidObject):
    """An object names a format, or a version of it, that this reader does not read."""

    def __init__(self, *, path: str, expected: str, found: str) -> None:
        self.path = path
        self.expected = expected
        self.found = found
        super().__init__(f"{path}: expected {expected}, found {found}")


# --- Values that do not belong together ---------------------------------------------------


class MismatchError(PySonarError, ValueError):
    """Two values that must agree (keys, shapes, model ids) do not."""

    def __init__(self, *, what: str, expected: object, found: object) -> None:
        self.what = what
        self.expected = expected
        self.found = found
        super().__init__(f"{what} mismatch: expected {expected}, found {found}")


class KeyMismatch(MismatchError):
    """Ciphertexts under one Paillier key meet a key or ciphertexts of another.

    `expected` and `found` are key fingerprints (see `pysonar.crypto.keys.key_fingerprint`).
    """


class ShapeMismatch(MismatchError):
    """Arrays or encrypted vectors have lengths or shapes that do not fit together."""


class ModelMismatch(MismatchError):
    """A gradient was computed for another model, or another version of the model."""


# --- Arithmetic ---------------------------------------------------------------------------


class OverflowRiskError(PySonarError, OverflowError):
    """A homomorphic computation could exceed what the key can hold, so it was refused.

    Paillier arithmetic works modulo n; a plaintext beyond phe's `max_int` (about n/3)
    decrypts silently wrong, so the bound is checked before computing.
    `bound` is a conservative bound on the result's encoded magnitude; `limit` the largest
    allowed; `details` names the inputs the bound came from.
    """

    def __init__(self, *, bound: int, limit: int, details: str) -> None:
        self.bound = bound
        self.limit = limit
        self.details = details
        super().__init__(
            f"encoded result could reach {bound.bit_length()} bits, more than the "
            f"{limit.bit_length()}-bit limit this key allows ({details})"
        )


class DecryptionOverflow(PySonarError, OverflowError):
    """A decrypted plaintext lies in phe's overflow band: the computation overflowed."""

    def __init__(self, *, index: int) -> None:
        self.index = index
        super().__init__(f"decrypted value {index} overflowed the key's plaintext range")


class ValueBeyondFloatRange(PySonarError, OverflowError):
    """A decrypted value is beyond float64: its mantissa and exponent are the key's to
    hold, not a float's (only a hostile object with a large exponent does this)."""

    def __init__(self, *, index: int) -> None:
        self.index = index
        super().__init__(f"decrypted value {index} is beyond the float range")


class WeightOutOfBound(PySonarError, ValueError):
    """A weight exceeds the bound the model declares for its weights."""

    def __init__(self, *, index: int, value: float, bound: float) -> None:
        self.index = index
        self.value = value
        self.bound = bound
        super().__init__(f"weight {index} is {value!r}, beyond the declared bound +/-{bound!r}")


class NonFiniteInput(PySonarError, ValueError):
    """An in-memory array holds NaN or an infinity where only finite numbers make sense."""

    def __init__(self, *, what: str, count: int) -> None:
        self.what = what
        self.count = count
        super().__init__(f"{what} holds {count} non-finite value(s)")


class UnsupportedKeySize(PySonarError, ValueError):
    """A Paillier key size outside the supported set was requested."""

    def __init__(self, *, bits: int, supported: tuple[int, ...]) -> None:
        self.bits = bits
        self.supported = supported
        super().__init__(f"key size {bits} bits is not supported (supported: {supported})")


class UnobfuscatedCiphertext(PySonarError, ValueError):
    """Ciphertexts that are bare results of arithmetic were about to leave the process.

    Such ciphertexts let anyone who knows the inputs recognise the scalars used; they must be
    re-randomised (`EncryptedVector.obfuscated`) first.
    """

    def __init__(self, *, what: str) -> None:
        self.what = what
        super().__init__(f"{what} holds ciphertexts that were never obfuscated")


class RowsFileError(PySonarError, ValueError):
    """A CSV file cannot be read as rows of a data set.

    Attributes:
        path: the file.
        line: the 1-based line the problem is on, or None for the file as a whole.
        reason: what is wrong.
    """

    def __init__(self, path: object, line: int | None, reason: str) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class PrivateFileError(PySonarError, ValueError):
    """A file only its owner may read (keys, training state) cannot be used as it is.

    Attributes:
        path: the file.
        reason: what is wrong, and where the fix is not obvious, what to do.
    """

    what = "private file"

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{self.what} {path}: {reason}")
        self.path = path
        self.reason = reason


class KeyFileError(PrivateFileError):
    """A Paillier key pair file cannot be loaded: unreadable, shared, malformed or inconsistent."""

    what = "key file"


class StateFileError(PrivateFileError):
    """A data scientist's state file cannot be resumed from: unreadable, shared, malformed,
    or the state of another chain, contract, account or key, or older than the chain."""

    what = "state file"


class ErrorScaleError(PySonarError, ValueError):
    """A mean squared error cannot be stored as the contract's unsigned error."""

    def __init__(self, *, value: float, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"cannot scale error {value!r} for the contract: {reason}")
