"""Mine daemons on a real chain and real IPFS nodes: crashes, outages and bad model objects.

Each test starts anvil, IPFS nodes and `python -m mine` processes (the demo's platform),
plays the data scientist with `DataScientist`, and stops every process by pid at the end.
Keys are 1024 bits here (the mines are told to accept them) to keep the tests quick.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from mine.status import read_status
from pysonar import diabetes
from pysonar.crypto.keys import KeyPair, generate_keypair
from pysonar.data_scientist import DataScientist
from pysonar.demo.platform import (
    LocalPlatform,
    MineProcess,
    start_mine,
    start_platform,
    wait_until_running,
)
from pysonar.formats.codec import MAX_MODEL_BYTES
from pysonar.ipfs import IpfsClient, NodeSpec, cid_to_digest, digest_to_cid, start_host, start_nodes
from pysonar.model.error_scale import mse_to_contract
from pysonar.rows import write_csv
from sonar.chain import AnvilChain, dev_accounts
from sonar.client import GradientAdded, ModelRepository

ETH = 10**18


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return generate_keypair(1024, rng=random.Random(1024))


@pytest.fixture(scope="module")
def split() -> diabetes.Split:
    return diabetes.split(diabetes.load(), validation_rows=82, shard_rows=[60, 60], seed=5)


@pytest.fixture
def shard_files(tmp_path: Path, split: diabetes.Split) -> list[Path]:
    paths = [tmp_path / f"shard-{i}.csv" for i in range(len(split.shards))]
    for shard, path in zip(split.shards, paths):
        write_csv(shard, path, diabetes.FEATURE_NAMES)
    return paths


@pytest.fixture
def platform(tmp_path: Path, shard_files: list[Path]) -> Iterator[LocalPlatform]:
    with start_platform(shard_files, workdir=tmp_path / "platform", accept_key_bits=[1024]) as p:
        yield p


def scientist_on(
    chain: AnvilChain, api: str, keys: KeyPair, split: diabetes.Split
) -> DataScientist:
    return DataScientist(
        repository=ModelRepository(chain.w3, dev_accounts()[0].signer()),
        ipfs=IpfsClient(api),
        keys=keys,
        validation=split.validation,
        fetch_timeout=5.0,
    )


def post(scientist: DataScientist) -> None:
    scientist.post_model(
        np.zeros(11), bounty=ETH, target_mse=1.0, learning_rate=1.0, weight_bound=2.0**20
    )


def gradients_of(chain: AnvilChain, address: str) -> list[GradientAdded]:
    events = ModelRepository(chain.w3).events(next_block=0).poll()
    return [e for e in events if isinstance(e, GradientAdded) and e.submitter == address]


def eventually(condition: Callable[[], object], *, timeout: float = 30, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def log_lines(mine: MineProcess, event: str) -> list[str]:
    return [line for line in mine.log_path.read_text().splitlines() if f"event={event}" in line]


def test_a_mine_killed_between_submitting_and_recording_never_submits_twice(
    platform: LocalPlatform, keys: KeyPair, split: diabetes.Split
) -> None:
    victim = platform.mines[0]
    scientist = scientist_on(
        platform.chain, platform.data_scientist_node.api_multiaddr, keys, split
    )
    post(scientist)
    eventually(lambda: gradients_of(platform.chain, victim.account.address), what="a gradient")

    victim.process.kill()  # SIGKILL: no chance to clean up
    # As if it had died after its transaction was mined but before recording it.
    with sqlite3.connect(victim.state_dir / "mine.sqlite3") as db:
        db.execute("DELETE FROM answers")
    victim.restart()

    eventually(lambda: log_lines(victim, "recovered"), what="the mine to find its gradient")
    assert len(gradients_of(platform.chain, victim.account.address)) == 1
    reviews = scientist.evaluate_round(gradients=2, timeout=30)
    assert any(review.improved for review in reviews)
    assert scientist.state is not None
    next_version = scientist.state.version
    eventually(
        lambda: {e.version for e in gradients_of(platform.chain, victim.account.address)}
        == {0, next_version},
        what=f"the restarted mine to answer version {next_version}",
    )
    versions = [e.version for e in gradients_of(platform.chain, victim.account.address)]
    assert sorted(versions) == [0, next_version], "one gradient per version, none twice"
    assert "GradientAlreadySubmitted" not in victim.log_path.read_text()
    scientist.shutdown()


def test_a_mine_waits_out_its_ipfs_node_being_down_and_answers_once_it_is_back(
    tmp_path: Path, shard_files: list[Path], keys: KeyPair, split: diabetes.Split
) -> None:
    with AnvilChain() as chain, start_nodes(1) as scientist_node:
        spec = NodeSpec(
            name="mine-node",
            repo=tmp_path / "mine-node",
            peers=(scientist_node[0].swarm_multiaddr,),
        )
        (tmp_path / "host").mkdir()
        mine_node = start_host([spec], root=tmp_path / "host")
        mine = start_mine(
            1,
            dev_accounts()[1],
            shard_files[0],
            node=mine_node[0],
            workdir=tmp_path,
            rpc_url=chain.rpc_url,
            accept_key_bits=[1024],
        )
        try:
            wait_until_running(mine)
            scientist = scientist_on(chain, scientist_node[0].api_multiaddr, keys, split)
            post(scientist)
            eventually(lambda: gradients_of(chain, mine.account.address), what="a gradient")
            # The data scientist's node fetches (and so holds) the gradient before the
            # mine's node goes down; evaluating it then moves the model to version 1.
            (submitted,) = gradients_of(chain, mine.account.address)
            scientist.ipfs.cat(digest_to_cid(submitted.gradient), timeout=20, max_bytes=10**6)

            mine_node.stop()
            reviews = scientist.evaluate_round(gradients=1, timeout=30)
            assert reviews and reviews[0].improved, "the gradient was fetched before the stop?"
            eventually(
                lambda: read_status(mine.status_path)["state"] == "waiting",
                what="the mine to wait for its node",
            )
            status = read_status(mine.status_path)
            assert status["waiting_for"] == f"the IPFS node at {mine_node[0].api_multiaddr}"
            assert mine.process.running

            same_node = NodeSpec(
                name=spec.name,
                repo=spec.repo,
                api_port=mine_node[0].api_port,
                swarm_port=mine_node[0].swarm_port,
                peers=spec.peers,
            )
            with start_host([same_node], root=tmp_path / "host"):
                eventually(
                    lambda: {e.version for e in gradients_of(chain, mine.account.address)}
                    == {0, 1},
                    what="the mine to answer version 1 once its node is back",
                )
                assert read_status(mine.status_path)["state"] == "running"
            scientist.shutdown()
        finally:
            mine.process.stop()
            mine_node.stop()


def test_bad_model_objects_are_skipped_with_their_reason_and_the_mines_keep_working(
    platform: LocalPlatform, keys: KeyPair, split: diabetes.Split
) -> None:
    owner = ModelRepository(platform.chain.w3, dev_accounts()[0].signer())
    initial = mse_to_contract(30_000.0)
    bad = {
        "garbage": b"\x00\x01 this is no model",
        "pickle": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.",
        "oversized": b"{" + b" " * MAX_MODEL_BYTES + b"}",
    }
    with platform.data_scientist_node.client() as node:
        for data in bad.values():
            cid = node.add(data)
            owner.add_model(cid_to_digest(cid), initial_error=initial, target_error=1, bounty=ETH)
    for mine in platform.mines:
        eventually(
            lambda mine=mine: read_status(mine.status_path)["skipped"] == 3,
            what=f"{mine.name} to skip the three objects",
        )
        reasons = log_lines(mine, "skipped")
        assert len(reasons) == 3
        assert "not valid JSON" in reasons[0]
        assert "pickle" in reasons[1]
        assert "more than the maximum of 524288 bytes" in reasons[2]
        assert mine.process.running

    scientist = scientist_on(
        platform.chain, platform.data_scientist_node.api_multiaddr, keys, split
    )
    post(scientist)  # a good model: model 3
    for mine in platform.mines:
        eventually(
            lambda mine=mine: [
                e.model_id for e in gradients_of(platform.chain, mine.account.address)
            ]
            == [3],
            what=f"{mine.name} to answer the good model",
        )
    time.sleep(1.0)  # a few more polls: the bad objects are not fetched again
    for mine in platform.mines:
        assert len(log_lines(mine, "skipped")) == 3
    scientist.shutdown()
