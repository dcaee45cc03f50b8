"""CIDv0 strings and the 32-byte sha256 digests the Sonar contract stores in a bytes32.

A CIDv0 is base58btc(0x12 0x20 || digest): the sha256 multihash of the object's root
block. The contract keeps only the digest, so every CID crossing the chain goes through
`cid_to_digest` and `digest_to_cid`. `unixfs_cid` computes, without a daemon, the CIDv0 that
`ipfs add` gives a small object, so content can be addressed (and checked) offline.
base58btc (the Bitcoin alphabet) is the `base58` package's default.
"""

from __future__ import annotations

import hashlib
from typing import NewType

import base58

from pysonar.errors import ObjectTooLarge
from pysonar.ipfs.errors import InvalidCid, InvalidDigest

Cid = NewType("Cid", str)
"""A validated CIDv0 string ("Qm...", 46 characters)."""

DIGEST_LENGTH = 32
CIDV0_LENGTH = 46
# Multihash header: code 0x12 (sha2-256), length 0x20 (32 bytes).
_SHA256_MULTIHASH_PREFIX = bytes((0x12, DIGEST_LENGTH))
# `ipfs add` (kubo and js-ipfs alike) cuts files into 256 KiB chunks; up to that size an
# object is one dag-pb block, which `unixfs_cid` can hash without building a tree.
DEFAULT_CHUNK_SIZE = 262_144


def cid_to_digest(cid: str) -> bytes:
    """Returns the 32-byte sha256 digest inside a CIDv0.

    Parameters:
        cid: a CIDv0 string such as "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o".

    Returns:
        The digest, ready to be stored in a Solidity bytes32.

    Raises:
        InvalidCid: if `cid` is not a str holding a CIDv0 (CIDv1 "b..." strings included).
    """
    if not isinstance(cid, str):
        raise InvalidCid(cid, f"expected str, got {type(cid).__name__}")
    if not cid.startswith("Qm"):
        raise InvalidCid(cid, 'a CIDv0 starts with "Qm" (CIDv1 and other versions are refused)')
    if len(cid) != CIDV0_LENGTH:
        raise InvalidCid(cid, f"a CIDv0 has {CIDV0_LENGTH} characters, this has {len(cid)}")
    try:
        multihash = base58.b58decode(cid)
    except ValueError as error:
        raise InvalidCid(cid, str(error)) from error
    if len(multihash) != len(_SHA256_MULTIHASH_PREFIX) + DIGEST_LENGTH or not multihash.startswith(
        _SHA256_MULTIHASH_PREFIX
    ):
        raise InvalidCid(cid, "it does not decode to a sha2-256 multihash of 32 bytes")
    return multihash[len(_SHA256_MULTIHASH_PREFIX) :]


def digest_to_cid(digest: bytes) -> Cid:
    """Returns the CIDv0 of a 32-byte sha256 digest (the inverse of `cid_to_digest`).

    Parameters:
        digest: 32 bytes, e.g. a bytes32 read from the contract.

    Raises:
        InvalidDigest: if `digest` is not bytes-like or not exactly 32 bytes long.
    """
    if not isinstance(digest, (bytes, bytearray, memoryview)):
        raise InvalidDigest(digest, f"expected bytes, got {type(digest).__name__}")
    raw = bytes(digest)
    if len(raw) != DIGEST_LENGTH:
        raise InvalidDigest(raw, f"it has {len(raw)} bytes")
    return Cid(base58.b58encode(_SHA256_MULTIHASH_PREFIX + raw).decode("ascii"))


def validate_cid(cid: str) -> Cid:
    """Returns `cid` typed as a `Cid` once it is known to be a well-formed CIDv0.

    Raises:
        InvalidCid: as `cid_to_digest` does.
    """
    cid_to_digest(cid)
    return Cid(cid)


def unixfs_cid(data: bytes) -> Cid:
    """Returns the CIDv0 that `ipfs add` (CIDv0, default chunker) gives `data`, offline.

    An object of up to one chunk (256 KiB) is a single dag-pb node whose Data field is a
    UnixFS File message holding the bytes; its CID is the sha256 of that node. Larger
    objects are a tree of such nodes, which this function does not build.

    Raises:
        ObjectTooLarge: if `data` is longer than 262,144 bytes.
    """
    size = len(data)
    if size > DEFAULT_CHUNK_SIZE:
        raise ObjectTooLarge(kind="single-block UnixFS", limit=DEFAULT_CHUNK_SIZE, size=size)
    # UnixFS Data: Type=File (field 1, varint 2), Data (field 2, omitted when empty, as
    # the importers do), filesize (field 3, varint).
    unixfs = b"\x08\x02"
    if data:
        unixfs += b"\x12" + _varint(size) + bytes(data)
    unixfs += b"\x18" + _varint(size)
    # dag-pb PBNode with no Links: only field 1, Data.
    node = b"\x0a" + _varint(len(unixfs)) + unixfs
    return digest_to_cid(hashlib.sha256(node).digest())


def _varint(value: int) -> bytes:
    """Protobuf's unsigned LEB128 encoding."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
