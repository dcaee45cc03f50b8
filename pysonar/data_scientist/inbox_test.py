"""The gradient inbox on real js-ipfs nodes: concurrent fetches, refusals, retries with backoff."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from pysonar.data_scientist.inbox import GradientInbox
from pysonar.errors import ObjectTooLarge
from pysonar.ipfs import IpfsClient, IpfsRequestError, LocalIpfsNodes, cid_to_digest
from pysonar.ipfs.fixtures import ipfs_nodes_fixture
from sonar.client import GradientAdded, GradientId, LogPosition, ModelId
from sonar.retry import Backoff

nodes = ipfs_nodes_fixture(count=2, scope="module")
EMPTY_DIRECTORY = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def event(number: int, digest: bytes) -> GradientAdded:
    return GradientAdded(
        LogPosition(number, 0, f"0x{number:064x}"),
        GradientId(number),
        ModelId(0),
        f"0x{number:040x}",
        0,
        digest,
    )


@pytest.fixture
def mine_node(nodes: LocalIpfsNodes) -> Iterator[IpfsClient]:
    with nodes[1].client() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def inbox(nodes: LocalIpfsNodes, clock: FakeClock) -> Iterator[GradientInbox]:
    made = GradientInbox(
        nodes[0].api_multiaddr,
        fetch_timeout=1.0,
        max_bytes=1000,
        backoff=Backoff(initial=10.0, maximum=10.0),
        clock=clock,
    )
    yield made
    made.close()


def test_gradients_are_fetched_and_returned_in_chain_order(
    inbox: GradientInbox, mine_node: IpfsClient
) -> None:
    objects = [os.urandom(500) for _ in range(6)]
    events = [event(10 - i, cid_to_digest(mine_node.add(data))) for i, data in enumerate(objects)]
    inbox.add(events)

    fetched = inbox.collect(wait_seconds=20)

    assert [f.event.gradient_id for f in fetched] == [5, 6, 7, 8, 9, 10]
    assert [f.data for f in fetched] == objects[::-1]
    assert all(f.refusal is None for f in fetched)
    assert len(inbox) == 0


def test_objects_ipfs_refuses_come_back_with_the_refusal(
    inbox: GradientInbox, mine_node: IpfsClient
) -> None:
    too_large = cid_to_digest(mine_node.add(os.urandom(1001)))
    inbox.add([event(1, too_large), event(2, cid_to_digest(EMPTY_DIRECTORY))])

    fetched = inbox.collect(wait_seconds=20)

    assert [type(f.refusal) for f in fetched] == [ObjectTooLarge, IpfsRequestError]
    assert all(f.data is None for f in fetched)


def test_an_unavailable_gradient_waits_its_backoff_then_is_fetched_again(
    inbox: GradientInbox, clock: FakeClock
) -> None:
    inbox.add([event(1, bytes([7]) * 32)])  # a CID no node has

    began = time.monotonic()
    assert inbox.collect(wait_seconds=20) == []
    assert time.monotonic() - began < 20, "no more than the wait asked for"
    assert len(inbox) == 1
    began = time.monotonic()
    assert inbox.collect(wait_seconds=20) == []  # not due: no fetch started, no wait
    assert time.monotonic() - began < 5, "it waited although nothing was in flight"
    clock.now += 10.0
    began = time.monotonic()
    assert inbox.collect(wait_seconds=20) == []  # due: fetched again, still missing
    assert time.monotonic() - began >= 0.9
    assert len(inbox) == 1


def test_a_gradient_put_back_is_fetched_after_its_backoff(
    inbox: GradientInbox, clock: FakeClock, mine_node: IpfsClient
) -> None:
    data = os.urandom(100)
    late = event(3, cid_to_digest(mine_node.add(data)))
    inbox.retry_later(late, RuntimeError("our node was down"))

    assert inbox.collect(wait_seconds=5) == []
    clock.now += 10.0
    (fetched,) = inbox.collect(wait_seconds=20)
    assert fetched.data == data
