"""The data scientist evaluates many mines' gradients: stale ones, bad ones, missing ones.

Real js-ipfs nodes and a real chain on each backend. The mines are played with the library
calls the mine daemon makes; each submits from its own account.
"""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount

from pysonar import diabetes
from pysonar.crypto.encrypted_vector import encrypt_vector
from pysonar.crypto.keys import KeyPair, generate_keypair
from pysonar.data_scientist import DataScientist, GradientReview
from pysonar.formats.codec import MAX_GRADIENT_BYTES, MAX_MODEL_BYTES, read_model, write_gradient
from pysonar.ipfs import IpfsClient, LocalIpfsNodes, cid_to_digest, digest_to_cid
from pysonar.model.error_scale import mse_to_contract
from pysonar.model.gradient import EncryptedGradient, ShardStatistics, encrypted_gradient
from pysonar.model.linear_regression import mean_squared_error, plaintext_gradient
from pysonar.model.optimizer import PreconditionedStep
from sonar.chain import LocalChain
from sonar.client import GradientStatus, ModelId, ModelRepository, gradient_id_of

ETH = 10**18
WEIGHT_BOUND = 2.0**20


@pytest.fixture(scope="module")
def other_keys() -> KeyPair:
    return generate_keypair(2048, rng=random.Random(7))


def scientist_for(
    chain: LocalChain, ipfs_nodes: LocalIpfsNodes, keys: KeyPair, split: diabetes.Split, **kwargs
) -> DataScientist:
    return DataScientist(
        repository=ModelRepository(chain.w3, chain.accounts[0].signer()),
        ipfs=ipfs_nodes[0].client(),
        keys=keys,
        validation=split.validation,
        **kwargs,
    )


def submit(chain: LocalChain, account: LocalAccount, node: IpfsClient, data: bytes) -> str:
    cid = node.add(data)
    ModelRepository(chain.w3, account).add_gradient(0, cid_to_digest(cid))
    return cid


def honest_gradient(node: IpfsClient, scientist: DataScientist, shard: diabetes.Shard) -> bytes:
    """What a mine publishes for the model's current version, computed from its shard."""
    assert scientist.state is not None
    model_bytes = node.cat(scientist.state.weights_cid, timeout=30, max_bytes=MAX_MODEL_BYTES)
    statistics = ShardStatistics.from_data(shard.features, shard.targets)
    return write_gradient(
        encrypted_gradient(read_model(model_bytes), statistics, model_id=ModelId(0))
    )


def forged_gradient(keys: KeyPair, values: list[float], *, version: int = 0) -> bytes:
    """A well-formed gradient object carrying chosen values (what a dishonest mine can send)."""
    vector = encrypt_vector(np.array(values), keys.public_key, exponent=-40)
    return write_gradient(
        EncryptedGradient(model_id=ModelId(0), model_version=version, row_count=1, values=vector)
    )


def evaluate_until(
    scientist: DataScientist, count: int, *, wait_seconds: float = 1.0, timeout: float = 60
) -> list[GradientReview]:
    reviews: list[GradientReview] = []
    deadline = time.monotonic() + timeout
    while len(reviews) < count and time.monotonic() < deadline:
        reviews += scientist.evaluate_new(wait_seconds=wait_seconds)
    return reviews


def test_ten_mines_answering_version_0_are_all_evaluated_against_the_current_weights(
    chain: LocalChain,
    ipfs_nodes: LocalIpfsNodes,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    keys: KeyPair,
    split: diabetes.Split,
) -> None:
    validation = split.validation
    rule = PreconditionedStep.from_rows(validation.features, learning_rate=0.5, damping=1e-3)
    with scientist_for(chain, ipfs_nodes, keys, split, update_rule=rule) as scientist:
        scientist.post_model(
            np.zeros(11), bounty=ETH, target_mse=1.0, learning_rate=0.5, weight_bound=WEIGHT_BOUND
        )
        for mine, shard in zip(mines, split.shards):
            submit(chain, mine, mine_node, honest_gradient(mine_node, scientist, shard))

        reviews = evaluate_until(scientist, 10)

    assert len(reviews) == 10
    assert all(r.rejected is None and r.computed_against == 0 for r in reviews), reviews
    paid = [r for r in reviews if r.payout > 0]
    assert len(paid) >= 3, "several stale gradients help the current weights and are paid"
    assert [r.version for r in paid] == list(range(1, len(paid) + 1))
    # Replayed in plaintext: each gradient was applied to the weights current at its turn.
    by_submitter = {mine.address: shard for mine, shard in zip(mines, split.shards)}
    weights, best = np.zeros(11), mse_to_contract(
        mean_squared_error(np.zeros(11), validation.features, validation.targets)
    )
    for review in reviews:
        shard = by_submitter[review.submitter]
        step = plaintext_gradient(np.zeros(11), shard.features, shard.targets)
        candidate = rule.step(weights, step, np.zeros(11))
        error = mse_to_contract(
            mean_squared_error(candidate, validation.features, validation.targets)
        )
        assert review.improved == (error < best)
        if review.improved:
            assert abs(review.error - error) <= 1
            weights, best = candidate, error
        else:
            assert review.error == best, "unimproved gradients are recorded at the best error"
    model = ModelRepository(chain.w3).get_model(0)
    assert (model.version, model.best_error) == (len(paid), best)
    assert model.paid == sum(r.payout for r in reviews)


def test_a_round_waits_for_a_late_mine_and_reports_each_arrival(
    chain: LocalChain,
    ipfs_nodes: LocalIpfsNodes,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    keys: KeyPair,
    split: diabetes.Split,
) -> None:
    with scientist_for(chain, ipfs_nodes, keys, split) as scientist:
        scientist.post_model(
            np.zeros(11), bounty=ETH, target_mse=1.0, learning_rate=0.5, weight_bound=WEIGHT_BOUND
        )
        gradients = [honest_gradient(mine_node, scientist, shard) for shard in split.shards[:3]]
        for mine, data in zip(mines[:2], gradients):
            submit(chain, mine, mine_node, data)
        late = threading.Timer(3.0, submit, (chain, mines[2], mine_node, gradients[2]))
        late.start()
        arrivals: list[int] = []
        try:
            reviews = scientist.evaluate_round(gradients=3, timeout=60, on_arrival=arrivals.append)
        finally:
            late.join()

    assert sorted(r.submitter for r in reviews) == sorted(m.address for m in mines[:3])
    assert arrivals[-1] == 3 and arrivals == sorted(set(arrivals)), arrivals
    assert len(arrivals) >= 2, "the late mine's gradient arrived after the first two"


def test_a_good_gradient_between_each_kind_of_bad_one_is_paid_in_the_same_batch(
    chain: LocalChain,
    ipfs_nodes: LocalIpfsNodes,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    keys: KeyPair,
    other_keys: KeyPair,
    split: diabetes.Split,
) -> None:
    validation = split.validation
    rule = PreconditionedStep.from_rows(validation.features, learning_rate=0.5, damping=1e-3)
    bound = 2500.0  # the honest steps of this split stay within about 2,150
    # A forged step to weights that improve the error (the bias at the mean target) but put
    # weight 0 past the bound: the data scientist cannot publish such weights.
    past_bound = np.zeros(11)
    past_bound[0], past_bound[10] = 1.05 * bound, float(np.mean(validation.targets))
    assert mean_squared_error(past_bound, validation.features, validation.targets) < (
        mean_squared_error(np.zeros(11), validation.features, validation.targets)
    )
    damped = rule.curvature + rule.damping * np.eye(11)
    forged_step = list(-(damped @ past_bound) / rule.learning_rate)
    bad: dict[str, bytes | str] = {
        # First, so that it meets the initial weights, against which it was forged.
        "past the weight bound": forged_gradient(keys, forged_step),
        "garbage": b"\x00\x01 not json at all",
        "pickle": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.",
        "oversized": b" " * (MAX_GRADIENT_BYTES + 1),
        "another key": forged_gradient(other_keys, [1.0] * 11),
        "too large to score": forged_gradient(keys, [1e12] * 11),
        "another version": forged_gradient(keys, [1.0] * 11, version=3),
        "directory": "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn",  # the empty directory
        "missing": digest_to_cid(bytes.fromhex("77" * 32)),  # a CID no node has
    }
    senders = iter(mines + [account.signer() for account in chain.accounts[1:]])
    with scientist_for(
        chain, ipfs_nodes, keys, split, update_rule=rule, fetch_timeout=2.0
    ) as scientist:
        scientist.post_model(
            np.zeros(11), bounty=ETH, target_mse=1.0, learning_rate=0.5, weight_bound=bound
        )
        good: list[str] = []
        kinds: dict[str, str] = {}
        for index, (kind, payload) in enumerate(bad.items()):
            sender = next(senders)
            kinds[sender.address] = kind
            if isinstance(payload, str):  # a CID to submit as it is
                ModelRepository(chain.w3, sender).add_gradient(0, cid_to_digest(payload))
            else:
                submit(chain, sender, mine_node, payload)
            shard = split.shards[index % 10]
            good.append(
                submit(
                    chain, next(senders), mine_node, honest_gradient(mine_node, scientist, shard)
                )
            )

        reviews = evaluate_until(scientist, len(good) + len(kinds) - 1, wait_seconds=10)
        # The gradient nobody serves is neither paid nor refused: it waits to be fetched again.
        assert scientist.pending == 1

    by_cid = {r.gradient_cid: r for r in reviews}
    assert all(by_cid[cid].rejected is None for cid in good)
    assert sum(1 for cid in good if by_cid[cid].payout > 0) >= 2
    rejected = {kinds[r.submitter]: r.rejected for r in reviews if r.submitter in kinds}
    assert set(rejected) == set(kinds.values()) - {"missing"}, "every bad kind was recorded"
    assert all(reason for reason in rejected.values())
    assert "pickle" in rejected["pickle"]
    assert "not valid JSON" in rejected["garbage"]
    assert "more than the maximum of 524288 bytes" in rejected["oversized"]
    assert "it is a directory, not a file" in rejected["directory"]
    assert "key mismatch" in rejected["another key"]
    assert "cannot scale error" in rejected["too large to score"]
    assert "beyond the declared bound +/-2500.0" in rejected["past the weight bound"]
    assert "model version" in rejected["another version"]
    for review in reviews:
        if review.submitter in kinds:
            assert (review.payout, review.improved) == (0, False)
    missing_sender = next(a for a, k in kinds.items() if k == "missing")
    gradient = ModelRepository(chain.w3).get_gradient(gradient_id_of(0, 0, missing_sender))
    assert gradient.status == GradientStatus.SUBMITTED


def test_gradients_nobody_serves_hold_the_data_scientist_for_one_fetch_timeout_not_ten(
    chain: LocalChain,
    ipfs_nodes: LocalIpfsNodes,
    mine_node: IpfsClient,
    mines: list[LocalAccount],
    keys: KeyPair,
    split: diabetes.Split,
) -> None:
    fetch_timeout = 2.0
    with scientist_for(chain, ipfs_nodes, keys, split, fetch_timeout=fetch_timeout) as scientist:
        scientist.post_model(
            np.zeros(11), bounty=ETH, target_mse=1.0, learning_rate=1.0, weight_bound=WEIGHT_BOUND
        )
        for index, mine in enumerate(mines[:9]):
            digest = bytes([index + 1]) * 32  # nine CIDs no node has
            ModelRepository(chain.w3, mine).add_gradient(0, digest)
        good = submit(
            chain, mines[9], mine_node, honest_gradient(mine_node, scientist, split.shards[9])
        )

        began = time.monotonic()
        reviews = scientist.evaluate_new()
        elapsed = time.monotonic() - began

        assert [r.gradient_cid for r in reviews] == [good]
        assert reviews[0].payout > 0
        # One after another they would take 9 fetch timeouts (18 s): fetched concurrently,
        # about one. Half of the sequential time leaves room for a loaded machine.
        assert elapsed < 9 * fetch_timeout / 2, f"took {elapsed:.1f} s"
        assert scientist.pending == 9
        # Fetched again later, with backoff: still unavailable, still pending, not recorded.
        assert scientist.evaluate_new(wait_seconds=fetch_timeout + 1) == []
        assert scientist.pending == 9
