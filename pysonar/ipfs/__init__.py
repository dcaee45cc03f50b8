"""IPFS for Hydrogen: the client PySonar and the mines use, CIDv0/bytes32 conversion, local nodes.

See README.md in this directory for how to start nodes from tests and from the command line.
"""

from pysonar.ipfs.cid import Cid, cid_to_digest, digest_to_cid, unixfs_cid, validate_cid
from pysonar.ipfs.client import IpfsClient, PeerIdentity
from pysonar.ipfs.errors import (
    DaemonStartError,
    InvalidApiAddress,
    InvalidCid,
    InvalidDigest,
    IpfsError,
    IpfsRequestError,
    IpfsTimeout,
    IpfsUnavailable,
    JsIpfsNotFound,
)
from pysonar.ipfs.nodes import (
    IpfsNode,
    LocalIpfsNodes,
    NodeSpec,
    find_node_modules,
    start_host,
    start_nodes,
)

__all__ = [
    "Cid",
    "DaemonStartError",
    "InvalidApiAddress",
    "InvalidCid",
    "InvalidDigest",
    "IpfsClient",
    "IpfsError",
    "IpfsNode",
    "IpfsRequestError",
    "IpfsTimeout",
    "IpfsUnavailable",
    "JsIpfsNotFound",
    "LocalIpfsNodes",
    "PeerIdentity",
    "cid_to_digest",
    "digest_to_cid",
    "NodeSpec",
    "find_node_modules",
    "start_host",
    "start_nodes",
    "unixfs_cid",
    "validate_cid",
]
