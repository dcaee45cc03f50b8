"""A full round across the components: the data scientist posts, a mine answers, gets paid.

Real js-ipfs daemons (one for the data scientist, one for the mine), a real chain on each
backend, 2048-bit keys. The test plays the mine with the library code the mine daemon
uses: read the model from its own node, compute the gradient from its shard's statistics,
publish it on its own node, submit its CID to the contract.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount

from pysonar import diabetes
from pysonar.crypto.keys import KeyPair, generate_keypair
from pysonar.data_scientist import DataScientist, GradientUnavailable
from pysonar.formats.codec import MAX_MODEL_BYTES, read_model, write_gradient
from pysonar.ipfs import IpfsClient, LocalIpfsNodes, cid_to_digest, digest_to_cid
from pysonar.model.encrypted_model import decrypt_weights
from pysonar.model.error_scale import mse_to_contract
from pysonar.model.gradient import ShardStatistics, encrypted_gradient
from pysonar.model.linear_regression import apply_gradient, mean_squared_error, plaintext_gradient
from sonar.chain import LocalChain
from sonar.client import GradientStatus, ModelAdded, ModelRepository

ETH = 10**18
LEARNING_RATE = 1.0
WEIGHT_BOUND = 2.0**20
TARGET_MSE = 3000.0


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return generate_keypair(2048, rng=random.Random(2026))


@pytest.fixture(scope="module")
def split() -> diabetes.Split:
    return diabetes.split(diabetes.load(), validation_rows=42, shard_rows=[100], seed=7)


@pytest.fixture
def scientist(
    chain: LocalChain,
    signers: list[LocalAccount],
    ipfs_nodes: LocalIpfsNodes,
    keys: KeyPair,
    split: diabetes.Split,
) -> DataScientist:
    return DataScientist(
        repository=ModelRepository(chain.w3, signers[0]),
        ipfs=ipfs_nodes[0].client(),
        keys=keys,
        validation=split.validation,
        fetch_timeout=5.0,
    )


def post(scientist: DataScientist) -> None:
    scientist.post_model(
        np.zeros(11),
        bounty=ETH,
        target_mse=TARGET_MSE,
        learning_rate=LEARNING_RATE,
        weight_bound=WEIGHT_BOUND,
    )


def play_mine(
    chain: LocalChain, account: LocalAccount, ipfs: IpfsClient, shard: diabetes.Shard
) -> str:
    """What a mine does for a new model version; returns the gradient's CID."""
    repository = ModelRepository(chain.w3, account)
    (added,) = (e for e in repository.events().poll() if isinstance(e, ModelAdded))
    model_bytes = ipfs.cat(digest_to_cid(added.weights), timeout=30, max_bytes=MAX_MODEL_BYTES)
    model = read_model(model_bytes)
    statistics = ShardStatistics.from_data(shard.features, shard.targets)
    gradient = encrypted_gradient(model, statistics, model_id=added.model_id)
    cid = ipfs.add(write_gradient(gradient), pin=True)
    repository.add_gradient(added.model_id, cid_to_digest(cid))
    return cid


def test_a_mine_is_paid_for_the_error_its_gradient_removes(
    chain: LocalChain,
    signers: list[LocalAccount],
    ipfs_nodes: LocalIpfsNodes,
    scientist: DataScientist,
    split: diabetes.Split,
    keys: KeyPair,
) -> None:
    mine, mine_node = signers[1], ipfs_nodes[1].client()
    shard, validation = split.shards[0], split.validation
    post(scientist)
    assert scientist.state is not None
    initial_error = scientist.state.best_error

    gradient_cid = play_mine(chain, mine, mine_node, shard)
    (review,) = scientist.evaluate_new()

    # The CID the contract recorded resolved on the data scientist's node, not the mine's.
    assert review.gradient_cid == gradient_cid
    assert review.submitter == mine.address
    expected_weights = apply_gradient(
        np.zeros(11), plaintext_gradient(np.zeros(11), shard.features, shard.targets), LEARNING_RATE
    )
    expected_error = mse_to_contract(
        mean_squared_error(expected_weights, validation.features, validation.targets)
    )
    assert abs(review.error - expected_error) <= 1  # rounding of the last micro-unit
    assert review.improved and not review.closed
    target_error = mse_to_contract(TARGET_MSE)
    assert review.payout == ETH * (initial_error - review.error) // (initial_error - target_error)

    repository = ModelRepository(chain.w3)
    model = repository.get_model(0)
    assert (model.version, model.best_error, model.paid) == (1, review.error, review.payout)
    assert repository.get_gradient(review.gradient_id).status == GradientStatus.EVALUATED
    # The new weights resolve on the mine's node and are the improved model.
    new_model = read_model(
        mine_node.cat(digest_to_cid(model.weights), timeout=30, max_bytes=MAX_MODEL_BYTES)
    )
    assert new_model.model_version == 1
    np.testing.assert_allclose(
        decrypt_weights(new_model, keys.private_key), expected_weights, rtol=1e-9
    )

    withdrawn = repository.as_account(mine).withdraw()
    assert withdrawn.amount == review.payout
    closed = scientist.close()
    assert closed.refund == ETH - review.payout
    assert scientist.withdraw().amount == ETH - review.payout
    assert repository.balance() == 0


def test_an_invalid_gradient_object_is_refused_and_recorded_unpaid(
    chain: LocalChain,
    signers: list[LocalAccount],
    ipfs_nodes: LocalIpfsNodes,
    scientist: DataScientist,
) -> None:
    post(scientist)
    mine_node = ipfs_nodes[1].client()
    # A pickle where a gradient should be.
    bogus = mine_node.add(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.")
    ModelRepository(chain.w3, signers[1]).add_gradient(0, cid_to_digest(bogus))

    (review,) = scientist.evaluate_new()

    assert review.rejected is not None and "JSON" in review.rejected
    assert (review.improved, review.payout) == (False, 0)
    model = ModelRepository(chain.w3).get_model(0)
    assert (model.version, model.paid) == (0, 0)
    assert ModelRepository(chain.w3).credit_of(signers[1].address) == 0


def test_a_gradient_nobody_serves_is_left_pending(
    chain: LocalChain, signers: list[LocalAccount], scientist: DataScientist
) -> None:
    post(scientist)
    missing = bytes.fromhex("77" * 32)  # a CID no node has
    submitted = ModelRepository(chain.w3, signers[1]).add_gradient(0, missing)

    (event,) = scientist.new_gradients()
    with pytest.raises(GradientUnavailable) as unavailable:
        scientist.evaluate(event)

    assert unavailable.value.cid == digest_to_cid(missing)
    gradient = ModelRepository(chain.w3).get_gradient(submitted.gradient_id)
    assert gradient.status == GradientStatus.SUBMITTED  # nothing recorded: it can be retried
