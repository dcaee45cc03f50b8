"""The state file: exact round trips, a private file, and refusals naming what is wrong."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pysonar.data_scientist.saved_state import (
    STATE_FORMAT,
    PendingBatch,
    PendingPost,
    SavedModel,
    SavedState,
    SavedVersion,
    StateIdentity,
    check_identity,
    load_state,
    save_state,
)
from pysonar.errors import StateFileError
from pysonar.ipfs import unixfs_cid
from sonar.client import ErrorScore, GradientId, ModelId, gradient_id_of

IDENTITY = StateIdentity(
    chain_id=31337,
    contract="0x" + "ab" * 20,
    account="0x" + "Cd" * 20,
    key_fingerprint="0f" * 32,
)
# Floats whose shortest decimal forms are long, or that a careless writer would change.
AWKWARD = [0.1, 1 / 3, -0.0, 5e-324, 2.0**-1074 * 3, 1e300, -123456.78901234567, 2.0**52 + 1]


def version(number: int, error: int, weights: list[float] | None = None) -> SavedVersion:
    values = np.array(weights if weights is not None else [float(number), *AWKWARD[1:]])
    return SavedVersion(number, values, unixfs_cid(f"version {number}".encode()), ErrorScore(error))


def model(*versions: SavedVersion) -> SavedModel:
    return SavedModel(
        model_id=ModelId(3),
        target_error=ErrorScore(10),
        learning_rate=0.1,
        weight_bound=1e301,
        versions=versions,
    )


def state(**changes: object) -> SavedState:
    base = SavedState(
        identity=IDENTITY,
        model=model(version(0, 2**64 - 1, AWKWARD), version(1, 500), version(2, 0)),
        cursor=17,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def saved_json(tmp_path: Path, saved: SavedState) -> dict:
    path = tmp_path / "state.json"
    save_state(saved, path)
    return json.loads(path.read_text())


def write_json(tmp_path: Path, body: object) -> Path:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(body))
    path.chmod(0o600)
    return path


def assert_same_versions(found: tuple[SavedVersion, ...], expected: tuple[SavedVersion, ...]):
    assert [(v.version, v.cid, v.error) for v in found] == [
        (v.version, v.cid, v.error) for v in expected
    ]
    for a, b in zip(found, expected):
        assert a.weights.tobytes() == b.weights.tobytes(), "bit for bit, signed zeros included"


def test_a_saved_state_reads_back_bit_for_bit(tmp_path: Path) -> None:
    saved = state()
    path = tmp_path / "state.json"

    save_state(saved, path)
    loaded = load_state(path)

    assert (loaded.identity, loaded.cursor, loaded.pending) == (IDENTITY, 17, None)
    assert loaded.model is not None and saved.model is not None
    assert (loaded.model.model_id, loaded.model.target_error) == (3, 10)
    assert (loaded.model.learning_rate, loaded.model.weight_bound) == (0.1, 1e301)
    assert_same_versions(loaded.model.versions, saved.model.versions)
    assert loaded.model.current.version == 2


def test_the_state_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    save_state(state(), tmp_path / "state.json")

    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600


def test_big_integers_are_decimal_strings_and_the_format_is_named(tmp_path: Path) -> None:
    gradient = gradient_id_of(3, 2, "0x" + "ff" * 20)
    body = saved_json(
        tmp_path, state(pending=PendingBatch(versions=(), gradient_ids=(GradientId(gradient),)))
    )

    assert body["format"] == STATE_FORMAT
    assert body["model"]["versions"][0]["error"] == str(2**64 - 1)
    assert body["pending"] == {"kind": "batch", "versions": [], "gradient_ids": [str(gradient)]}


def test_a_pending_post_and_a_pending_batch_read_back(tmp_path: Path) -> None:
    post = PendingPost(
        weights=np.array(AWKWARD),
        cid=unixfs_cid(b"initial"),
        initial_error=ErrorScore(900),
        target_error=ErrorScore(9),
        learning_rate=0.5,
        weight_bound=1e301,
        sent_after_block=41,
    )
    batch = PendingBatch(
        versions=(version(3, 0),), gradient_ids=(GradientId(7), GradientId(2**255))
    )
    with_batch = state(model=model(version(0, 800), version(1, 500), version(2, 100)))
    path = tmp_path / "state.json"

    save_state(state(model=None, pending=post), path)
    loaded_post = load_state(path).pending
    save_state(replace(with_batch, pending=batch), path)
    loaded_batch = load_state(path).pending

    assert isinstance(loaded_post, PendingPost)
    assert loaded_post.weights.tobytes() == post.weights.tobytes()
    assert (loaded_post.cid, loaded_post.initial_error, loaded_post.target_error) == (
        post.cid,
        900,
        9,
    )
    assert (loaded_post.learning_rate, loaded_post.sent_after_block) == (0.5, 41)
    assert isinstance(loaded_batch, PendingBatch)
    assert_same_versions(loaded_batch.versions, batch.versions)
    assert loaded_batch.gradient_ids == (7, 2**255)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b'{"format": "hydrogen/data-scientist-state/1", "cursor": 1', "truncated"),
        (b"\x80\x04K\x01.", "pickles are never loaded"),
        (b'{"cursor": NaN}', "non-finite"),
        (b"[]", "expected a JSON object"),
    ],
)
def test_refuses_a_file_that_is_not_strict_json(tmp_path: Path, content: bytes, reason: str):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    path.chmod(0o600)

    with pytest.raises(StateFileError, match=reason) as raised:
        load_state(path)

    assert raised.value.path == path


def mutate(body: dict, where: str, value: object) -> dict:
    """`body` with the value at the dotted path `where` replaced (deleted if `...`)."""
    *parents, last = where.split(".")
    node = body
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


@pytest.mark.parametrize(
    "where, value, reason",
    [
        ("format", "hydrogen/data-scientist-state/2", "format: expected"),
        ("cursor", ..., "missing \\['cursor'\\]"),
        ("extra", 1, "unexpected \\['extra'\\]"),
        ("cursor", -1, "cursor: expected an integer in"),
        ("chain_id", "31337", "chain_id: expected an integer"),
        ("contract", "0x1234", "contract: expected an address"),
        ("model.versions.1.version", 2, "model.versions\\[1\\].version: expected 1"),
        ("model.versions.1.error", "800", "expected an error below version 0's"),
        ("model.versions.1.error", 500, "error: expected a string"),
        ("model.versions.1.error", "0500", "unsigned decimal integer"),
        ("model.versions.1.weights", [1.0, 2.0], "expected 8 weights"),
        ("model.versions.1.weights.0", True, "weights\\[0\\]: expected a number"),
        ("model.versions.1.weights.0", 1e302, "expected a weight within"),
        ("model.versions.1.cid", "bafy123", "cid: expected a CIDv0"),
        ("model.versions", [], "expected at least version 0"),
        ("model.target_error", str(2**64 - 1), "below the initial error"),
        ("pending", {"kind": "rollback"}, "pending.kind: expected 'post' or 'batch'"),
    ],
)
def test_refuses_a_tampered_file_naming_the_value(
    tmp_path: Path, where: str, value: object, reason: str
) -> None:
    body = saved_json(tmp_path, state(model=model(version(0, 800), version(1, 500))))
    path = write_json(tmp_path, mutate(body, where, value))

    with pytest.raises(StateFileError, match=reason):
        load_state(path)


def test_refuses_a_pending_batch_that_does_not_follow_the_current_version(tmp_path: Path):
    pending = PendingBatch(versions=(version(5, 100),), gradient_ids=(GradientId(1),))
    path = tmp_path / "state.json"
    save_state(state(model=model(version(0, 800), version(1, 500)), pending=pending), path)

    with pytest.raises(StateFileError, match="pending.versions\\[0\\].version: expected 2"):
        load_state(path)


def test_refuses_a_pending_post_beside_a_posted_model(tmp_path: Path) -> None:
    post = PendingPost(
        weights=np.zeros(3),
        cid=unixfs_cid(b"initial"),
        initial_error=ErrorScore(900),
        target_error=ErrorScore(9),
        learning_rate=0.5,
        weight_bound=10.0,
        sent_after_block=41,
    )
    path = tmp_path / "state.json"
    save_state(state(pending=post), path)

    with pytest.raises(StateFileError, match="no pending post once a model is posted"):
        load_state(path)


def test_refuses_a_state_file_group_or_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(state(), path)
    path.chmod(0o644)

    with pytest.raises(StateFileError, match="can be read by others \\(mode 644\\)"):
        load_state(path)


@pytest.mark.parametrize(
    "other, reason",
    [
        (replace(IDENTITY, chain_id=1), "is the state of chain 31337, not of chain 1"),
        (
            replace(IDENTITY, contract="0x" + "12" * 20),
            f"is the state of contract {IDENTITY.contract}, not of contract 0x1212",
        ),
        (replace(IDENTITY, account="0x" + "34" * 20), "is the state of account 0xCdCd"),
        (replace(IDENTITY, key_fingerprint="ee" * 32), "load the key pair the model was posted"),
    ],
)
def test_refuses_the_state_of_another_chain_contract_account_or_key(
    tmp_path: Path, other: StateIdentity, reason: str
) -> None:
    with pytest.raises(StateFileError, match=reason):
        check_identity(state(), other, tmp_path / "state.json")


def test_addresses_match_whatever_their_case(tmp_path: Path) -> None:
    same = replace(IDENTITY, contract=IDENTITY.contract.upper().replace("0X", "0x"))

    check_identity(state(), same, tmp_path / "state.json")
