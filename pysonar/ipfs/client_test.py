"""Tests of IpfsClient against two real js-ipfs daemons on 127.0.0.1, connected to each other."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator

import base58
import pytest

from pysonar.errors import ObjectTooLarge
from pysonar.ipfs.cid import (
    DEFAULT_CHUNK_SIZE,
    digest_to_cid,
    unixfs_cid,
    validate_cid,
)
from pysonar.ipfs.client import IpfsClient
from pysonar.ipfs.errors import (
    InvalidApiAddress,
    InvalidCid,
    IpfsRequestError,
    IpfsTimeout,
    IpfsUnavailable,
)
from pysonar.ipfs.fixtures import ipfs_nodes_fixture
from pysonar.ipfs.nodes import LocalIpfsNodes

_LOG = logging.getLogger(__name__)

# One pair of daemons for the whole module: starting them costs seconds.
nodes = ipfs_nodes_fixture(count=2, scope="module")


@pytest.fixture(scope="module")
def publisher(nodes: LocalIpfsNodes) -> Iterator[IpfsClient]:
    with nodes[0].client() as client:
        yield client


@pytest.fixture(scope="module")
def fetcher(nodes: LocalIpfsNodes) -> Iterator[IpfsClient]:
    with nodes[1].client() as client:
        yield client


def absent_cid() -> str:
    """A well-formed CIDv0 of random content: no daemon anywhere has it."""
    return digest_to_cid(os.urandom(32))


def test_an_object_added_on_one_node_is_fetched_identical_from_the_other(
    publisher: IpfsClient, fetcher: IpfsClient
) -> None:
    data = os.urandom(100_000)
    began = time.monotonic()
    cid = publisher.add(data)
    added = time.monotonic()
    fetched = fetcher.cat(cid, timeout=20, max_bytes=len(data))
    done = time.monotonic()
    assert fetched == data
    _LOG.info(
        "100 KB: add %.0f ms, cat from the peer %.0f ms",
        1e3 * (added - began),
        1e3 * (done - added),
    )


def test_an_object_of_several_chunks_crosses_between_nodes_intact(
    publisher: IpfsClient, fetcher: IpfsClient
) -> None:
    data = os.urandom(3 * DEFAULT_CHUNK_SIZE + 12_345)
    cid = publisher.add(data)
    assert fetcher.cat(cid, timeout=20, max_bytes=len(data)) == data


@pytest.mark.parametrize("size", [0, 1, 1000, DEFAULT_CHUNK_SIZE])
def test_add_returns_the_cidv0_computed_offline_and_cat_gives_the_bytes_back(
    publisher: IpfsClient, size: int
) -> None:
    data = os.urandom(size)
    cid = publisher.add(data)
    assert cid.startswith("Qm")
    assert cid == unixfs_cid(data)
    assert publisher.cat(cid, timeout=10, max_bytes=size) == data


def test_adding_the_same_bytes_on_two_nodes_gives_the_same_cid(
    publisher: IpfsClient, fetcher: IpfsClient
) -> None:
    data = os.urandom(5 * DEFAULT_CHUNK_SIZE)
    assert publisher.add(data) == fetcher.add(data)


def test_cat_of_a_cid_no_peer_has_times_out_with_the_cid_and_the_timeout(
    fetcher: IpfsClient,
) -> None:
    cid = absent_cid()
    began = time.monotonic()
    with pytest.raises(IpfsTimeout) as raised:
        fetcher.cat(cid, timeout=1.5, max_bytes=1000)
    elapsed = time.monotonic() - began
    assert raised.value.cid == cid
    assert raised.value.timeout == 1.5
    assert isinstance(raised.value, TimeoutError)
    # The daemon gave up on its own deadline, well before the socket's grace period.
    assert 1.4 <= elapsed < 3.0


def test_cat_refuses_an_object_bigger_than_max_bytes_and_accepts_one_exactly_at_it(
    publisher: IpfsClient, fetcher: IpfsClient
) -> None:
    data = os.urandom(10_000)
    cid = publisher.add(data)
    with pytest.raises(ObjectTooLarge) as raised:
        fetcher.cat(cid, timeout=10, max_bytes=9_999)
    assert (raised.value.cid, raised.value.limit, raised.value.size) == (cid, 9_999, 10_000)
    assert fetcher.cat(cid, timeout=10, max_bytes=10_000) == data


def test_cat_refuses_a_malformed_cid_before_asking_the_daemon() -> None:
    # No daemon listens on this client's address: an InvalidCid proves nothing was sent.
    with IpfsClient("/ip4/127.0.0.1/tcp/9/http") as client, pytest.raises(InvalidCid):
        client.cat("QmNotACid", timeout=1, max_bytes=10)


def test_cat_of_a_directory_is_refused(publisher: IpfsClient) -> None:
    # The empty UnixFS directory, which every daemon can build without fetching anything.
    empty_directory = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
    with pytest.raises(IpfsRequestError, match="it is a directory, not a file"):
        publisher.cat(empty_directory, timeout=5, max_bytes=1000)


def test_pin_fetches_and_pins_an_object_added_unpinned_on_the_peer(
    publisher: IpfsClient, fetcher: IpfsClient
) -> None:
    cid = publisher.add(os.urandom(2_000), pin=False)
    assert cid not in publisher.pins()
    assert cid not in fetcher.pins()
    fetcher.pin(cid, timeout=10)
    assert cid in fetcher.pins()


def test_add_pins_by_default(publisher: IpfsClient) -> None:
    cid = publisher.add(os.urandom(100))
    assert cid in publisher.pins()


def test_pin_of_a_cid_no_peer_has_times_out(fetcher: IpfsClient) -> None:
    cid = absent_cid()
    with pytest.raises(IpfsTimeout) as raised:
        fetcher.pin(cid, timeout=1.0)
    assert (raised.value.operation, raised.value.cid) == ("pin", cid)


def test_identity_and_peers_show_the_two_nodes_connected(
    nodes: LocalIpfsNodes, publisher: IpfsClient, fetcher: IpfsClient
) -> None:
    assert publisher.identity().peer_id == nodes[0].peer_id
    assert nodes[0].swarm_multiaddr in publisher.identity().addresses
    assert publisher.peers() == {nodes[1].peer_id}
    assert fetcher.peers() == {nodes[0].peer_id}


def unknown_peer_id() -> str:
    """A well-formed Ed25519 peer id ("12D3KooW...") that no node has."""
    # Identity multihash (0x00, 36 bytes) of the protobuf PublicKey{Ed25519, 32 bytes}.
    return base58.b58encode(bytes((0x00, 0x24, 0x08, 0x01, 0x12, 0x20)) + os.urandom(32)).decode()


def test_connect_to_an_address_nobody_listens_on_fails_with_a_clear_error(
    publisher: IpfsClient,
) -> None:
    with socket.socket() as held:
        # Bound but not listening: connections to it are refused, and no one else can take it.
        held.bind(("127.0.0.1", 0))
        address = f"/ip4/127.0.0.1/tcp/{held.getsockname()[1]}/p2p/{unknown_peer_id()}"
        began = time.monotonic()
        with pytest.raises((IpfsRequestError, IpfsTimeout)) as raised:
            publisher.connect(address, timeout=3)
    assert raised.value.operation == "swarm connect"
    assert time.monotonic() - began < 3 + 2.5


def test_a_client_of_a_port_where_no_daemon_listens_raises_ipfs_unavailable() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        api = f"/ip4/127.0.0.1/tcp/{held.getsockname()[1]}/http"
        with IpfsClient(api, request_timeout=2) as client, pytest.raises(IpfsUnavailable) as raised:
            client.add(b"x")
    assert raised.value.api == api
    assert isinstance(raised.value, ConnectionError)


def test_a_malformed_api_address_is_refused() -> None:
    with pytest.raises(InvalidApiAddress):
        IpfsClient("127.0.0.1:5001")


def test_add_refuses_anything_but_bytes(publisher: IpfsClient) -> None:
    with pytest.raises(TypeError):
        publisher.add("text")  # type: ignore[arg-type]


def test_add_returns_a_validated_cid(publisher: IpfsClient) -> None:
    cid = publisher.add(b"Hydrogen")
    assert validate_cid(cid) == cid
