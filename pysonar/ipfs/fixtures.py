"""A pytest fixture factory giving tests running, connected local IPFS nodes.

In a test module or conftest.py::

    from pysonar.ipfs.fixtures import ipfs_nodes_fixture

    ipfs_nodes = ipfs_nodes_fixture(count=3, scope="module")

    def test_a_mine_fetches_the_model(ipfs_nodes):
        data_scientist, mine, _ = ipfs_nodes
        ...

The daemons are stopped by pid and their repos deleted when the scope ends, whether its
tests passed or failed. The test target needs `dependencies=["3rdparty/node:package-lock"]`
in its BUILD file so that a new js-ipfs lock re-runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import pytest

from pysonar.ipfs.nodes import LocalIpfsNodes, start_nodes

Scope = Literal["function", "class", "module", "package", "session"]


def ipfs_nodes_fixture(
    count: int = 2,
    *,
    scope: Scope = "module",
    connect: bool = True,
    ready_timeout: float = 60.0,
) -> Callable[[], Iterator[LocalIpfsNodes]]:
    """Returns a pytest fixture yielding `count` running nodes (see `start_nodes`).

    The fixture's name is the name it is assigned to in the test module or conftest.py.
    """

    @pytest.fixture(scope=scope)
    def ipfs_nodes() -> Iterator[LocalIpfsNodes]:
        with start_nodes(count, connect=connect, ready_timeout=ready_timeout) as nodes:
            yield nodes

    return ipfs_nodes
