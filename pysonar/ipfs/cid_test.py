"""Tests of CIDv0 <-> bytes32 digest conversion and the offline UnixFS CID."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pysonar.errors import ObjectTooLarge
from pysonar.ipfs.cid import (
    DEFAULT_CHUNK_SIZE,
    cid_to_digest,
    digest_to_cid,
    unixfs_cid,
    validate_cid,
)
from pysonar.ipfs.errors import InvalidCid, InvalidDigest, IpfsError

# Printed by js-ipfs 0.66.1 for `add` of these bytes (the same CIDs kubo gives them).
HELLO_WORLD_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
EMPTY_FILE_CID = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


@given(st.binary(min_size=32, max_size=32))
def test_a_digest_survives_the_round_trip_through_its_cid(digest: bytes) -> None:
    cid = digest_to_cid(digest)
    assert cid.startswith("Qm")
    assert len(cid) == 46
    assert cid_to_digest(cid) == digest


def test_the_digest_of_a_cid_is_the_sha256_of_its_root_block() -> None:
    # "hello world\n" fits one block: dag-pb{UnixFS{File, data, filesize 12}}.
    block = b"\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c"
    assert cid_to_digest(HELLO_WORLD_CID) == hashlib.sha256(block).digest()


def test_unixfs_cid_gives_the_cids_ipfs_add_gives() -> None:
    assert unixfs_cid(b"hello world\n") == HELLO_WORLD_CID
    assert unixfs_cid(b"") == EMPTY_FILE_CID


def test_unixfs_cid_refuses_objects_longer_than_one_chunk() -> None:
    unixfs_cid(b"x" * DEFAULT_CHUNK_SIZE)
    with pytest.raises(ObjectTooLarge) as raised:
        unixfs_cid(b"x" * (DEFAULT_CHUNK_SIZE + 1))
    assert raised.value.limit == DEFAULT_CHUNK_SIZE
    assert raised.value.size == DEFAULT_CHUNK_SIZE + 1


@pytest.mark.parametrize(
    ("digest", "reason"),
    [
        (b"\x01" * 31, "it has 31 bytes"),
        (b"\x01" * 33, "it has 33 bytes"),
        (b"", "it has 0 bytes"),
        ("ab" * 16, "expected bytes, got str"),
    ],
)
def test_digest_to_cid_rejects_anything_but_32_bytes(digest: object, reason: str) -> None:
    with pytest.raises(InvalidDigest) as raised:
        digest_to_cid(digest)  # type: ignore[arg-type]
    assert raised.value.reason == reason
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, IpfsError)


@pytest.mark.parametrize(
    ("cid", "reason_part"),
    [
        # CIDv1 of the same object (base32): a valid CID, but not one the contract can hold.
        ("bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y", 'starts with "Qm"'),
        (HELLO_WORLD_CID[:-1], "has 46 characters, this has 45"),
        (HELLO_WORLD_CID + "x", "has 46 characters, this has 47"),
        (HELLO_WORLD_CID[:-1] + "0", "Invalid character '0'"),
        (HELLO_WORLD_CID[:-1] + "l", "Invalid character 'l'"),
        # Well-formed base58 of the right length, but the multihash header is not 0x12 0x20.
        ("Qm" + "z" * 44, "does not decode to a sha2-256 multihash"),
        ("", 'starts with "Qm"'),
        (None, "expected str, got NoneType"),
        (cid_to_digest(HELLO_WORLD_CID), "expected str, got bytes"),
    ],
)
def test_cid_to_digest_rejects_non_cidv0_strings_with_the_reason(
    cid: object, reason_part: str
) -> None:
    with pytest.raises(InvalidCid) as raised:
        cid_to_digest(cid)  # type: ignore[arg-type]
    assert reason_part in raised.value.reason
    assert raised.value.cid == cid


def test_validate_cid_returns_a_valid_cid_unchanged() -> None:
    assert validate_cid(HELLO_WORLD_CID) == HELLO_WORLD_CID
    with pytest.raises(InvalidCid):
        validate_cid("Qm")
