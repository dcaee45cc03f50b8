"""The `ipfs-nodes` command: starts local IPFS nodes, prints where they are, stops them on Ctrl-C.

    ./pants run pysonar/ipfs:ipfs-nodes -- --count 3
    python -m pysonar.ipfs.cli --count 3 --json     # one JSON object per node and line

Exit codes: 0 after Ctrl-C or SIGTERM (the way to stop it), 1 if the nodes could not start,
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TextIO

from pysonar.ipfs.errors import IpfsError
from pysonar.ipfs.nodes import IpfsNode, LocalIpfsNodes, start_nodes

EXIT_OK = 0
EXIT_START_FAILED = 1


def main(
    argv: Sequence[str] | None = None,
    *,
    wait: Callable[[LocalIpfsNodes], None] | None = None,
    out: TextIO | None = None,
) -> int:
    """Runs the command.

    Parameters:
        argv: the arguments (default: sys.argv[1:]).
        wait: returns when the nodes should stop (default: on Ctrl-C or SIGTERM).
        out: where node descriptions go (default: stdout).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(
        prog="ipfs-nodes", description="Run local js-ipfs nodes on 127.0.0.1 until Ctrl-C."
    )
    parser.add_argument("--count", type=int, default=3, help="number of nodes (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per node")
    parser.add_argument("--no-connect", action="store_true", help="do not connect the nodes")
    parser.add_argument(
        "--node-modules", help="where js-ipfs is installed (default: found automatically)"
    )
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    out = out or sys.stdout
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Set explicitly: a shell starts background jobs with SIGINT ignored, and Python then
    # keeps ignoring it, so Ctrl-C (or kill -INT) would not stop the nodes.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with start_nodes(
            args.count,
            connect=not args.no_connect,
            node_modules=args.node_modules,
            ready_timeout=args.ready_timeout,
        ) as nodes:
            for node in nodes:
                print(_describe(node, as_json=args.json), file=out, flush=True)
            print(f"{len(nodes)} IPFS node(s) running; Ctrl-C stops them.", file=sys.stderr)
            (wait or _wait_for_interrupt)(nodes)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    except IpfsError as error:
        print(f"ipfs-nodes: {error}", file=sys.stderr)
        return EXIT_START_FAILED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def _describe(node: IpfsNode, *, as_json: bool) -> str:
    fields = {
        "name": node.name,
        "api": node.api_multiaddr,
        "api_url": node.api_url,
        "swarm": node.swarm_multiaddr,
        "peer_id": node.peer_id,
        "pid": node.pid,
        "repo": str(node.repo),
    }
    if as_json:
        return json.dumps(fields)
    return (
        f"{node.name}: API {node.api_url}  peer {node.peer_id}  host pid {node.pid}\n"
        f"  swarm {node.swarm_multiaddr}\n  repo {node.repo}"
    )


def _wait_for_interrupt(nodes: LocalIpfsNodes) -> None:
    while True:
        signal.pause()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGINT and SIGTERM take the same path, which stops the daemons before we exit.
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
