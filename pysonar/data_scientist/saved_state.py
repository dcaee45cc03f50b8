"""The data scientist's training state on disk, so that a restart or a crash loses nothing.

`DataScientist(state_file=...)` rewrites this file, atomically and with mode 0600 (it holds
the plaintext weights), whenever its training state changes, and resumes from it when
constructed. It is strict JSON:

    {
      "format": "hydrogen/data-scientist-state/1",
      "chain_id": 31337, "contract": "0x...", "account": "0x...", "key_fingerprint": "<hex>",
      "cursor": 42,
      "model": null | {
        "model_id": 0, "target_error": "<uint64>", "learning_rate": 0.5, "weight_bound": 1e6,
        "versions": [{"version": 0, "weights": [0.0, ...], "cid": "Qm...", "error": "<uint64>"}]
      },
      "pending": null
        | {"kind": "post", "weights": [...], "cid": "Qm...", "initial_error": "<uint64>",
           "target_error": "<uint64>", "learning_rate": 0.5, "weight_bound": 1e6,
           "sent_after_block": 41}
        | {"kind": "batch", "versions": [<version>, ...], "gradient_ids": ["<uint256>", ...]}
    }

- The chain id, contract, account and key fingerprint say whose state it is: a file of
  another chain, contract, account or key is refused (`check_identity`).
- `cursor` is the block from which GradientAdded events must be read again: every gradient
  submitted before it has been evaluated on the contract.
- `versions` holds every version's weights, CID and error, version 0 first. Weights are
  JSON numbers written by Python's float repr, which reads back to the very same float.
  Errors (uint64) and gradient ids (uint256) are decimal strings: they exceed the range
  of integers every JSON reader keeps exact.
- `pending` is written just before a transaction is sent and cleared once its result is
  saved: a post (the model about to be added, and the last block before it was sent) or a
  batch (the versions its evaluations will create, and its gradients). A file that still
  holds one after a crash tells the data scientist what to look for on the chain.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pysonar.errors import (
    InvalidObject,
    SchemaViolation,
    StateFileError,
    UnsupportedFormat,
    ValueOutOfRange,
)
from pysonar.formats.codec import MAX_FEATURE_COUNT
from pysonar.formats.strict_json import (
    SAFE_INTEGER_MAX,
    describe,
    expect_decimal,
    expect_int,
    expect_list,
    expect_object,
    expect_positive_number,
    expect_str,
    parse_object,
)
from pysonar.ipfs import Cid, InvalidCid, validate_cid
from pysonar.model.encrypted_model import MAX_MODEL_VERSION
from pysonar.private_file import read_private_file, write_private_file
from sonar.client import ErrorScore, GradientId, ModelId

STATE_FORMAT = "hydrogen/data-scientist-state/1"
# A version of the diabetes model (eleven weights) takes about 400 bytes: this is room for
# some 160,000 versions, and little enough to read into memory and parse at once.
MAX_STATE_BYTES = 64 * 1024 * 1024

_UINT64_MAX = 2**64 - 1
_UINT256_DIGITS = len(str(2**256 - 1))
_UINT = re.compile(r"0|[1-9][0-9]*")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")

_STATE_KEYS = (
    "format",
    "chain_id",
    "contract",
    "account",
    "key_fingerprint",
    "cursor",
    "model",
    "pending",
)
_MODEL_KEYS = ("model_id", "target_error", "learning_rate", "weight_bound", "versions")
_VERSION_KEYS = ("version", "weights", "cid", "error")
_POST_KEYS = (
    "kind",
    "weights",
    "cid",
    "initial_error",
    "target_error",
    "learning_rate",
    "weight_bound",
    "sent_after_block",
)
_BATCH_KEYS = ("kind", "versions", "gradient_ids")


@dataclass(frozen=True)
class StateIdentity:
    """Whose state a file is: one account's models on one chain's contract, under one key."""

    chain_id: int
    contract: str
    account: str
    key_fingerprint: str


@dataclass(frozen=True, eq=False)
class SavedVersion:
    """One version of the model: its plaintext weights, the CID of its encrypted model, and
    the error the contract recorded for it."""

    version: int
    weights: np.ndarray
    cid: Cid
    error: ErrorScore


@dataclass(frozen=True)
class SavedModel:
    """The posted model: what the contract has, plus what only the data scientist knows."""

    model_id: ModelId
    target_error: ErrorScore
    learning_rate: float
    weight_bound: float
    versions: tuple[SavedVersion, ...]
    """Every version, version 0 first; the last is the current one."""

    @property
    def current(self) -> SavedVersion:
        return self.versions[-1]


@dataclass(frozen=True, eq=False)
class PendingPost:
    """A model about to be posted: saved before `add_model` is sent.

    `sent_after_block` is the chain's last block before sending: the ModelAdded event, if
    the transaction was mined, is in a later block.
    """

    weights: np.ndarray
    cid: Cid
    initial_error: ErrorScore
    target_error: ErrorScore
    learning_rate: float
    weight_bound: float
    sent_after_block: int


@dataclass(frozen=True)
class PendingBatch:
    """Evaluations about to be recorded: saved before `eval_gradients` is sent.

    `versions` are the versions the batch creates if it is recorded (none if no gradient
    improved the model), numbered on from the saved model's current version.
    """

    versions: tuple[SavedVersion, ...]
    gradient_ids: tuple[GradientId, ...]


@dataclass(frozen=True)
class SavedState:
    """Everything a data scientist needs to carry on after a restart."""

    identity: StateIdentity
    model: SavedModel | None
    cursor: int
    pending: PendingPost | PendingBatch | None = None


def save_state(state: SavedState, path: Path) -> None:
    """Write `state` to `path`, atomically, readable by its owner only (mode 0600).

    Raises:
        OSError: the directory is missing or not writable, the disk is full, ...
    """
    identity = state.identity
    body = {
        "format": STATE_FORMAT,
        "chain_id": identity.chain_id,
        "contract": identity.contract,
        "account": identity.account,
        "key_fingerprint": identity.key_fingerprint,
        "cursor": state.cursor,
        "model": None if state.model is None else _model_to_json(state.model),
        "pending": None if state.pending is None else _pending_to_json(state.pending),
    }
    text = json.dumps(body, indent=1, allow_nan=False)
    write_private_file(path, (text + "\n").encode("ascii"))


def load_state(path: Path) -> SavedState:
    """Read and check a state file written by `save_state`.

    Raises:
        StateFileError: the file cannot be read, group or others may read it, it is larger
            than `MAX_STATE_BYTES`, or it is not strict JSON of the state format (a key
            missing or extra, a value of the wrong type or out of range, versions out of
            order, weights of different lengths or beyond the weight bound, a pending
            post beside a posted model, ...).
    """
    data = read_private_file(path, max_bytes=MAX_STATE_BYTES, error=StateFileError)
    try:
        body = parse_object(data, kind="state", max_bytes=MAX_STATE_BYTES)
        if body.get("format") != STATE_FORMAT:
            # Checked first: another format's keys say nothing about this one's.
            raise UnsupportedFormat(
                path="format",
                expected=repr(STATE_FORMAT),
                found=describe(body["format"]) if "format" in body else "nothing",
            )
        fields = expect_object(body, "$", _STATE_KEYS)
        identity = StateIdentity(
            chain_id=expect_int(
                fields["chain_id"], "chain_id", minimum=0, maximum=SAFE_INTEGER_MAX
            ),
            contract=_expect_match(fields["contract"], "contract", _ADDRESS, "an address"),
            account=_expect_match(fields["account"], "account", _ADDRESS, "an address"),
            key_fingerprint=_expect_match(
                fields["key_fingerprint"], "key_fingerprint", _FINGERPRINT, "64 hex digits"
            ),
        )
        cursor = expect_int(fields["cursor"], "cursor", minimum=0, maximum=SAFE_INTEGER_MAX)
        model = None if fields["model"] is None else _model_from_json(fields["model"])
        pending = (
            None if fields["pending"] is None else _pending_from_json(fields["pending"], model)
        )
    except (InvalidObject, InvalidCid) as error:
        raise StateFileError(path, str(error)) from error
    return SavedState(identity=identity, model=model, cursor=cursor, pending=pending)


def check_identity(state: SavedState, expected: StateIdentity, path: Path) -> None:
    """Refuse a state that is not `expected`'s: another chain, contract, account or key.

    Raises:
        StateFileError: naming what differs.
    """
    found = state.identity
    advice = "give each chain, contract and account a state file of its own"
    if found.chain_id != expected.chain_id:
        raise StateFileError(
            path,
            f"is the state of chain {found.chain_id}, not of chain {expected.chain_id} "
            f"(the chain this data scientist is connected to): {advice}",
        )
    if found.contract.lower() != expected.contract.lower():
        raise StateFileError(
            path,
            f"is the state of contract {found.contract}, not of contract {expected.contract}: "
            f"{advice}",
        )
    if found.account.lower() != expected.account.lower():
        raise StateFileError(
            path,
            f"is the state of account {found.account}, not of account {expected.account}: "
            f"{advice}",
        )
    if found.key_fingerprint != expected.key_fingerprint:
        raise StateFileError(
            path,
            f"was written under the key with fingerprint {found.key_fingerprint[:16]}..., "
            f"not this data scientist's {expected.key_fingerprint[:16]}...: "
            "load the key pair the model was posted with",
        )


# -- writing -------------------------------------------------------------------------------


def _model_to_json(model: SavedModel) -> dict[str, object]:
    return {
        "model_id": model.model_id,
        "target_error": str(model.target_error),
        "learning_rate": model.learning_rate,
        "weight_bound": model.weight_bound,
        "versions": [_version_to_json(version) for version in model.versions],
    }


def _version_to_json(version: SavedVersion) -> dict[str, object]:
    return {
        "version": version.version,
        "weights": _weights_to_json(version.weights),
        "cid": version.cid,
        "error": str(version.error),
    }


def _weights_to_json(weights: np.ndarray) -> list[float]:
    # Python floats: json writes their repr, the shortest text that reads back exactly.
    return [float(weight) for weight in np.asarray(weights, dtype=np.float64)]


def _pending_to_json(pending: PendingPost | PendingBatch) -> dict[str, object]:
    if isinstance(pending, PendingPost):
        return {
            "kind": "post",
            "weights": _weights_to_json(pending.weights),
            "cid": pending.cid,
            "initial_error": str(pending.initial_error),
            "target_error": str(pending.target_error),
            "learning_rate": pending.learning_rate,
            "weight_bound": pending.weight_bound,
            "sent_after_block": pending.sent_after_block,
        }
    return {
        "kind": "batch",
        "versions": [_version_to_json(version) for version in pending.versions],
        "gradient_ids": [str(gradient_id) for gradient_id in pending.gradient_ids],
    }


# -- reading -------------------------------------------------------------------------------


def _model_from_json(value: object) -> SavedModel:
    fields = expect_object(value, "model", _MODEL_KEYS)
    weight_bound = expect_positive_number(fields["weight_bound"], "model.weight_bound")
    versions = _versions_from_json(
        fields["versions"], "model.versions", first=0, weight_bound=weight_bound, width=None
    )
    if not versions:
        raise ValueOutOfRange(
            path="model.versions", expected="at least version 0", found="an empty array"
        )
    target_error = _expect_uint(fields["target_error"], "model.target_error", _UINT64_MAX)
    if target_error >= versions[0].error:
        raise ValueOutOfRange(
            path="model.target_error",
            expected=f"an error below the initial error {versions[0].error}",
            found=str(target_error),
        )
    return SavedModel(
        model_id=ModelId(
            expect_int(fields["model_id"], "model.model_id", minimum=0, maximum=SAFE_INTEGER_MAX)
        ),
        target_error=ErrorScore(target_error),
        learning_rate=expect_positive_number(fields["learning_rate"], "model.learning_rate"),
        weight_bound=weight_bound,
        versions=versions,
    )


def _versions_from_json(
    value: object, path: str, *, first: int, weight_bound: float, width: int | None
) -> tuple[SavedVersion, ...]:
    """Versions numbered `first`, `first + 1`, ..., each lowering the error of the one
    before, with weights of one length (`width` if given) within the bound."""
    items = expect_list(value, path, max_length=MAX_MODEL_VERSION + 1)
    versions: list[SavedVersion] = []
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        fields = expect_object(item, where, _VERSION_KEYS)
        number = expect_int(
            fields["version"], f"{where}.version", minimum=0, maximum=MAX_MODEL_VERSION
        )
        if number != first + index:
            raise ValueOutOfRange(
                path=f"{where}.version", expected=str(first + index), found=str(number)
            )
        weights = _weights_from_json(fields["weights"], f"{where}.weights", weight_bound, width)
        width = len(weights)
        error = _expect_uint(fields["error"], f"{where}.error", _UINT64_MAX)
        if versions and error >= versions[-1].error:
            raise ValueOutOfRange(
                path=f"{where}.error",
                expected=f"an error below version {number - 1}'s {versions[-1].error}",
                found=str(error),
            )
        versions.append(
            SavedVersion(
                number, weights, _expect_cid(fields["cid"], f"{where}.cid"), ErrorScore(error)
            )
        )
    return tuple(versions)


def _weights_from_json(
    value: object, path: str, weight_bound: float, width: int | None
) -> np.ndarray:
    items = expect_list(value, path, max_length=MAX_FEATURE_COUNT + 1)
    if len(items) < 2 or (width is not None and len(items) != width):
        expected = f"{width} weights" if width is not None else "at least 2 weights"
        raise ValueOutOfRange(path=path, expected=expected, found=f"{len(items)} weights")
    weights = []
    for index, item in enumerate(items):
        # parse_object already refused NaN and infinities.
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise SchemaViolation(
                path=f"{path}[{index}]", expected="a number", found=describe(item)
            )
        if abs(item) > weight_bound:
            raise ValueOutOfRange(
                path=f"{path}[{index}]",
                expected=f"a weight within +/-{weight_bound!r}",
                found=repr(item),
            )
        weights.append(float(item))
    return np.array(weights, dtype=np.float64)


def _pending_from_json(value: object, model: SavedModel | None) -> PendingPost | PendingBatch:
    if not isinstance(value, dict):
        raise SchemaViolation(path="pending", expected="an object or null", found=describe(value))
    found = value.get("kind")
    if found == "post":
        fields = expect_object(value, "pending", _POST_KEYS)
        if model is not None:
            raise ValueOutOfRange(
                path="pending", expected="no pending post once a model is posted", found="one"
            )
        weight_bound = expect_positive_number(fields["weight_bound"], "pending.weight_bound")
        initial_error = _expect_uint(fields["initial_error"], "pending.initial_error", _UINT64_MAX)
        target_error = _expect_uint(fields["target_error"], "pending.target_error", _UINT64_MAX)
        if target_error >= initial_error:
            raise ValueOutOfRange(
                path="pending.target_error",
                expected=f"an error below the initial error {initial_error}",
                found=str(target_error),
            )
        return PendingPost(
            weights=_weights_from_json(fields["weights"], "pending.weights", weight_bound, None),
            cid=_expect_cid(fields["cid"], "pending.cid"),
            initial_error=ErrorScore(initial_error),
            target_error=ErrorScore(target_error),
            learning_rate=expect_positive_number(fields["learning_rate"], "pending.learning_rate"),
            weight_bound=weight_bound,
            sent_after_block=expect_int(
                fields["sent_after_block"],
                "pending.sent_after_block",
                minimum=0,
                maximum=SAFE_INTEGER_MAX,
            ),
        )
    if found == "batch":
        fields = expect_object(value, "pending", _BATCH_KEYS)
        if model is None:
            raise ValueOutOfRange(
                path="pending", expected="no pending batch before a model is posted", found="one"
            )
        versions = _versions_from_json(
            fields["versions"],
            "pending.versions",
            first=model.current.version + 1,
            weight_bound=model.weight_bound,
            width=len(model.current.weights),
        )
        if versions and versions[0].error >= model.current.error:
            raise ValueOutOfRange(
                path="pending.versions[0].error",
                expected=f"an error below the current version's {model.current.error}",
                found=str(versions[0].error),
            )
        ids = expect_list(fields["gradient_ids"], "pending.gradient_ids", max_length=2**16)
        if not ids:
            raise ValueOutOfRange(
                path="pending.gradient_ids", expected="at least one gradient", found="none"
            )
        return PendingBatch(
            versions=versions,
            gradient_ids=tuple(
                GradientId(
                    expect_decimal(
                        item, f"pending.gradient_ids[{index}]", max_digits=_UINT256_DIGITS
                    )
                )
                for index, item in enumerate(ids)
            ),
        )
    raise SchemaViolation(path="pending.kind", expected="'post' or 'batch'", found=describe(found))


def _expect_uint(value: object, path: str, maximum: int) -> int:
    """A decimal string of an unsigned integer up to `maximum` ("0" included)."""
    text = expect_str(value, path)
    if len(text) > len(str(maximum)) or not _UINT.fullmatch(text):
        raise SchemaViolation(
            path=path,
            expected="an unsigned decimal integer as a string (digits only, no leading zero)",
            found=describe(value),
        )
    number = int(text)
    if number > maximum:
        raise ValueOutOfRange(path=path, expected=f"at most {maximum}", found=text)
    return number


def _expect_match(value: object, path: str, pattern: re.Pattern[str], expected: str) -> str:
    text = expect_str(value, path)
    if not pattern.fullmatch(text):
        raise SchemaViolation(path=path, expected=expected, found=describe(value))
    return text


def _expect_cid(value: object, path: str) -> Cid:
    try:
        return validate_cid(expect_str(value, path))
    except InvalidCid as error:
        raise SchemaViolation(path=path, expected="a CIDv0", found=error.reason) from error
