"""A data scientist that restarts, or crashes between a transaction and saving its result,
resumes from its state file where the chain is, and pays no gradient and no bounty twice.

Real js-ipfs nodes and a real chain on each backend; the mines are played with the library
calls the mine daemon makes. A crash is a repository whose transaction raises `Crash` just
before it is sent or just after it is mined, before the data scientist hears of it; the
crashed data scientist is then dropped and a new one started on the same state file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount

from pysonar import diabetes
from pysonar.crypto.keys import KeyPair
from pysonar.data_scientist import DataScientist, GradientReview, ModelAlreadyPosted, TrainingState
from pysonar.data_scientist.saved_state import PendingBatch, PendingPost, load_state
from pysonar.errors import StateFileError
from pysonar.formats.codec import MAX_MODEL_BYTES, read_model, write_gradient
from pysonar.ipfs import IpfsClient, LocalIpfsNodes, cid_to_digest, digest_to_cid
from pysonar.model.gradient import ShardStatistics, encrypted_gradient
from pysonar.model.optimizer import PreconditionedStep
from sonar.chain import LocalChain
from sonar.client import (
    BatchEvaluation,
    GradientAdded,
    GradientEvaluated,
    GradientStatus,
    ModelAdded,
    ModelId,
    ModelRepository,
)

ETH = 10**18
WEIGHT_BOUND = 2.0**20
LEARNING_RATE = 0.5
ROUND = 3  # mines per round


class Crash(Exception):
    """The data scientist's process dies here."""


class RecordingRepository(ModelRepository):
    """The contract, remembering every gradient the data scientist asks it to evaluate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[int] = []

    def eval_gradients(
        self, model_id: int, evaluations: Sequence[tuple[int, int, bytes]]
    ) -> BatchEvaluation:
        self.asked += [gradient_id for gradient_id, _, _ in evaluations]
        return super().eval_gradients(model_id, evaluations)


class ReceiptLostOnce(RecordingRepository):
    """The first batch is mined, but its receipt never arrives (the connection dropped)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost = False

    def eval_gradients(
        self, model_id: int, evaluations: Sequence[tuple[int, int, bytes]]
    ) -> BatchEvaluation:
        batch = super().eval_gradients(model_id, evaluations)
        if not self.lost:
            self.lost = True
            raise TimeoutError("no receipt for the batch")
        return batch


class CrashAfterPost(ModelRepository):
    def add_model(self, *args: Any, **kwargs: Any) -> ModelAdded:
        super().add_model(*args, **kwargs)
        raise Crash("after add_model was mined")


class CrashBeforePost(ModelRepository):
    def add_model(self, *args: Any, **kwargs: Any) -> ModelAdded:
        raise Crash("before add_model was sent")


class CrashAfterBatch(ModelRepository):
    def eval_gradients(self, *args: Any, **kwargs: Any) -> BatchEvaluation:
        super().eval_gradients(*args, **kwargs)
        raise Crash("after eval_gradients was mined")


class CrashBeforeBatch(ModelRepository):
    def eval_gradients(self, *args: Any, **kwargs: Any) -> BatchEvaluation:
        raise Crash("before eval_gradients was sent")


@pytest.fixture
def start(
    chain: LocalChain, ipfs_nodes: LocalIpfsNodes, keys: KeyPair, split: diabetes.Split
) -> Iterator[Any]:
    """Starts a data scientist as account 0, on a repository of the class given."""
    clients: list[IpfsClient] = []

    def start_scientist(
        state_file: Path | None, repository: Callable[..., ModelRepository] = ModelRepository
    ) -> DataScientist:
        clients.append(ipfs_nodes[0].client())
        return DataScientist(
            repository=repository(chain.w3, chain.accounts[0].signer()),
            ipfs=clients[-1],
            keys=keys,
            validation=split.validation,
            update_rule=PreconditionedStep.from_rows(
                split.validation.features, learning_rate=LEARNING_RATE, damping=1e-3
            ),
            state_file=state_file,
        )

    yield start_scientist
    for client in clients:
        client.close()


def post(scientist: DataScientist) -> TrainingState:
    return scientist.post_model(
        np.zeros(11),
        bounty=ETH,
        target_mse=1.0,
        learning_rate=LEARNING_RATE,
        weight_bound=WEIGHT_BOUND,
    )


def submit_round(
    chain: LocalChain,
    node: IpfsClient,
    mines: Sequence[LocalAccount],
    shards: Sequence[diabetes.Shard],
) -> list[int]:
    """Each mine answers the model's version on the chain from its shard; returns the ids."""
    weights = digest_to_cid(ModelRepository(chain.w3).get_model(0).weights)
    model = read_model(node.cat(weights, timeout=30, max_bytes=MAX_MODEL_BYTES))
    ids = []
    for mine, shard in zip(mines, shards):
        statistics = ShardStatistics.from_data(shard.features, shard.targets)
        gradient = write_gradient(encrypted_gradient(model, statistics, model_id=ModelId(0)))
        added = ModelRepository(chain.w3, mine).add_gradient(0, cid_to_digest(node.add(gradient)))
        ids.append(added.gradient_id)
    return ids


def evaluate_round(scientist: DataScientist) -> list[GradientReview]:
    return scientist.evaluate_round(gradients=ROUND, timeout=60)


def reference_round(
    chain: LocalChain,
    start: Any,
    node: IpfsClient,
    mines: Sequence[LocalAccount],
    split: diabetes.Split,
) -> TrainingState:
    """The state after posting and one round, in a run without a crash (then undone)."""
    snapshot = chain.snapshot()
    with start(None) as scientist:
        post(scientist)
        submit_round(chain, node, mines[:ROUND], split.shards[:ROUND])
        evaluate_round(scientist)
        assert scientist.state is not None
        state = scientist.state
    chain.revert(snapshot)
    return state


def assert_same_training_state(found: TrainingState, expected: TrainingState) -> None:
    assert (found.model_id, found.target_error, found.version) == (
        expected.model_id,
        expected.target_error,
        expected.version,
    )
    assert sorted(found.versions) == sorted(expected.versions)
    for number, version in expected.versions.items():
        assert found.versions[number].weights.tobytes() == version.weights.tobytes()
        assert found.versions[number].error == version.error


def assert_each_gradient_evaluated_and_paid_once(chain: LocalChain) -> None:
    """Every gradient submitted was evaluated exactly once, and the contract paid exactly
    what those evaluations credited."""
    repository = ModelRepository(chain.w3)
    events = repository.events().poll()
    submitted = [e.gradient_id for e in events if isinstance(e, GradientAdded)]
    evaluated = [e for e in events if isinstance(e, GradientEvaluated)]
    assert sorted(e.gradient_id for e in evaluated) == sorted(submitted)
    assert len(set(submitted)) == len(submitted)
    for gradient_id in submitted:
        assert repository.get_gradient(gradient_id).status == GradientStatus.EVALUATED
    model = repository.get_model(0)
    assert model.paid == sum(e.payout for e in evaluated)
    assert model.paid == sum(repository.get_gradient(i).payout for i in submitted)
    assert (repository.model_count(), model.bounty) == (1, ETH)


def test_a_crash_after_a_batch_is_mined_resumes_at_the_version_the_chain_recorded(
    chain: LocalChain,
    start: Any,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    split: diabetes.Split,
    tmp_path: Path,
) -> None:
    expected = reference_round(chain, start, mine_node, mines, split)
    assert expected.version > 0, "the round improves the model"
    state_file = tmp_path / "state.json"

    crashing = start(state_file, CrashAfterBatch)
    post(crashing)
    crashed = submit_round(chain, mine_node, mines[:ROUND], split.shards[:ROUND])
    with pytest.raises(Crash):
        evaluate_round(crashing)
    crashing.shutdown()
    assert crashing.state is not None and crashing.state.version == 0, "it never heard"

    with start(state_file, RecordingRepository) as resumed:
        assert resumed.resumed and resumed.state is not None
        assert resumed.repository.get_model(0).version == expected.version
        assert_same_training_state(resumed.state, expected)
        later = submit_round(
            chain, mine_node, mines[ROUND : 2 * ROUND], split.shards[ROUND : 2 * ROUND]
        )
        reviews = evaluate_round(resumed)
        asked = resumed.repository.asked  # type: ignore[attr-defined]

    assert sorted(r.gradient_id for r in reviews) == sorted(later)
    assert sorted(asked) == sorted(later), "the crashed batch's gradients are never sent again"
    assert not set(asked) & set(crashed)
    assert_each_gradient_evaluated_and_paid_once(chain)


def test_a_crash_before_a_batch_is_sent_drops_it_and_evaluates_its_gradients_once(
    chain: LocalChain,
    start: Any,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    split: diabetes.Split,
    tmp_path: Path,
) -> None:
    expected = reference_round(chain, start, mine_node, mines, split)
    state_file = tmp_path / "state.json"

    crashing = start(state_file, CrashBeforeBatch)
    post(crashing)
    crashed = submit_round(chain, mine_node, mines[:ROUND], split.shards[:ROUND])
    with pytest.raises(Crash):
        evaluate_round(crashing)
    crashing.shutdown()
    pending = load_state(state_file).pending
    assert isinstance(pending, PendingBatch), "the crash came after the batch was saved"
    assert len(pending.versions) == expected.version

    with start(state_file, RecordingRepository) as resumed:
        assert resumed.resumed and resumed.state is not None
        assert resumed.state.version == 0, "the batch the chain never saw is dropped"
        assert load_state(state_file).pending is None
        reviews = evaluate_round(resumed)
        assert resumed.state is not None
        assert_same_training_state(resumed.state, expected)
        asked = resumed.repository.asked  # type: ignore[attr-defined]

    assert sorted(r.gradient_id for r in reviews) == sorted(crashed)
    assert sorted(asked) == sorted(crashed), "each gradient is sent once"
    assert_each_gradient_evaluated_and_paid_once(chain)


def test_a_batch_whose_receipt_was_lost_is_settled_before_the_next_one(
    chain: LocalChain,
    start: Any,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    split: diabetes.Split,
    tmp_path: Path,
) -> None:
    # A notebook cell that raised is run again, without restarting the kernel.
    expected = reference_round(chain, start, mine_node, mines, split)
    state_file = tmp_path / "state.json"

    with start(state_file, ReceiptLostOnce) as scientist:
        post(scientist)
        first = submit_round(chain, mine_node, mines[:ROUND], split.shards[:ROUND])
        with pytest.raises(TimeoutError):
            evaluate_round(scientist)
        assert scientist.state is not None and scientist.state.version == 0, "it never heard"
        later = submit_round(
            chain, mine_node, mines[ROUND : 2 * ROUND], split.shards[ROUND : 2 * ROUND]
        )
        reviews = evaluate_round(scientist)
        assert scientist.state is not None
        assert scientist.state.versions[expected.version].weights.tobytes() == (
            expected.weights.tobytes()
        )
        asked = scientist.repository.asked  # type: ignore[attr-defined]

    assert sorted(r.gradient_id for r in reviews) == sorted(later)
    assert sorted(asked) == sorted(first + later), "each gradient is sent once"
    assert load_state(state_file).pending is None
    assert_each_gradient_evaluated_and_paid_once(chain)


def test_a_crash_after_the_model_is_posted_adopts_it_instead_of_posting_another(
    chain: LocalChain,
    start: Any,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    split: diabetes.Split,
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "state.json"

    crashing = start(state_file, CrashAfterPost)
    with pytest.raises(Crash):
        post(crashing)
    crashing.shutdown()
    assert crashing.state is None, "it never heard"

    with start(state_file) as resumed:
        assert resumed.resumed and resumed.state is not None
        assert (resumed.state.model_id, resumed.state.version) == (0, 0)
        assert resumed.state.weights.tobytes() == np.zeros(11).tobytes()
        with pytest.raises(ModelAlreadyPosted) as raised:
            post(resumed)
        assert raised.value.model_id == 0
        submit_round(chain, mine_node, mines[:ROUND], split.shards[:ROUND])
        reviews = evaluate_round(resumed)

    assert len(reviews) == ROUND and any(r.payout > 0 for r in reviews)
    assert_each_gradient_evaluated_and_paid_once(chain)


def test_a_crash_before_the_model_is_sent_lets_the_data_scientist_post_it(
    chain: LocalChain, start: Any, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"

    crashing = start(state_file, CrashBeforePost)
    with pytest.raises(Crash):
        post(crashing)
    crashing.shutdown()
    assert isinstance(load_state(state_file).pending, PendingPost)

    with start(state_file) as resumed:
        assert not resumed.resumed and resumed.state is None
        assert load_state(state_file).pending is None
        post(resumed)
        assert resumed.state is not None and resumed.state.model_id == 0

    assert ModelRepository(chain.w3).model_count() == 1


def test_a_plain_restart_resumes_every_version_and_goes_on(
    chain: LocalChain,
    start: Any,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    split: diabetes.Split,
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "state.json"
    with start(state_file) as first:
        post(first)
        submit_round(chain, mine_node, mines[:ROUND], split.shards[:ROUND])
        evaluate_round(first)
        assert first.state is not None
        before = first.state

    with start(state_file, RecordingRepository) as resumed:
        assert resumed.resumed and resumed.state is not None
        assert_same_training_state(resumed.state, before)
        for number, version in before.versions.items():
            restored = resumed.state.versions[number]
            assert restored.cid == version.cid
            assert restored.encrypted.weights.ciphertexts == version.encrypted.weights.ciphertexts
        with pytest.raises(ModelAlreadyPosted):
            post(resumed)
        later = submit_round(
            chain, mine_node, mines[ROUND : 2 * ROUND], split.shards[ROUND : 2 * ROUND]
        )
        evaluate_round(resumed)
        assert sorted(resumed.repository.asked) == sorted(later)  # type: ignore[attr-defined]

    assert_each_gradient_evaluated_and_paid_once(chain)


def test_refuses_the_state_file_of_another_contract_or_chain(
    chain: LocalChain, start: Any, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    with start(state_file) as first:
        post(first)

    def other_contract(w3: Any, account: LocalAccount) -> ModelRepository:
        return ModelRepository(w3, account, address="0x" + "11" * 20)

    with pytest.raises(StateFileError, match="is the state of contract 0x") as raised:
        start(state_file, other_contract)
    assert raised.value.path == state_file

    body = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**body, "chain_id": 1}))
    with pytest.raises(
        StateFileError, match=f"is the state of chain 1, not of chain {chain.chain_id}"
    ):
        start(state_file)


@pytest.mark.parametrize(
    "tamper, reason",
    [
        pytest.param(lambda text: text[: len(text) // 2], "not valid JSON", id="truncated"),
        pytest.param(
            lambda text: text.replace('"cursor"', '"kursor"'),
            "missing \\['cursor'\\]",
            id="a key renamed",
        ),
        pytest.param(
            lambda text: text.replace('"hydrogen/data-scientist-state/1"', '"pickle/1"'),
            "format: expected",
            id="another format",
        ),
    ],
)
def test_refuses_a_tampered_state_file(
    chain: LocalChain, start: Any, tmp_path: Path, tamper: Any, reason: str
) -> None:
    state_file = tmp_path / "state.json"
    with start(state_file) as first:
        post(first)
    state_file.write_text(tamper(state_file.read_text()))

    with pytest.raises(StateFileError, match=reason):
        start(state_file)


def test_refuses_a_state_file_older_than_the_chain(
    chain: LocalChain,
    start: Any,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    split: diabetes.Split,
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "state.json"
    with start(state_file) as first:
        post(first)
        backup = state_file.read_bytes()
        submit_round(chain, mine_node, mines[:ROUND], split.shards[:ROUND])
        evaluate_round(first)
        assert first.state is not None and first.state.version > 0
    state_file.write_bytes(backup)

    with pytest.raises(StateFileError, match="the file is not this model's latest state"):
        start(state_file)
