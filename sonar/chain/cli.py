"""`./pants run sonar:chain`: anvil with ModelRepository deployed, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from sonar.chain.anvil_chain import AnvilChain
from sonar.errors import ChainError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sonar-chain",
        description="Start a local chain (anvil) with ModelRepository already deployed.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8545, help="JSON-RPC port (0: any free)")
    parser.add_argument(
        "--block-time", type=float, default=None, help="seconds per block (default: automine)"
    )
    return parser.parse_args(argv)


def describe(chain: AnvilChain) -> str:
    lines = [
        f"RPC URL           {chain.rpc_url}",
        f"Chain id          {chain.chain_id}",
        f"ModelRepository   {chain.contract_address}",
        f"Ready in          {chain.startup_seconds:.2f} s (anvil pid {chain.pid})",
        "",
        "Funded accounts (WELL-KNOWN DEVELOPMENT KEYS: never use them on a real network)",
    ]
    for account in chain.accounts:
        lines.append(f"  ({account.index}) {account.address}  {account.private_key}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        chain = AnvilChain(host=args.host, port=args.port, block_time=args.block_time)
    except ChainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    # Installed once anvil runs (a Ctrl-C while it starts stops it in AnvilChain), and
    # with SIGINT set explicitly: a shell starts background jobs with it ignored.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with chain:
        print(describe(chain), flush=True)
        while not stop.wait(0.5):
            if not chain.process.running:
                print(f"error: anvil exited with code {chain.process.returncode}", file=sys.stderr)
                print(chain.log_tail(), file=sys.stderr)
                return 1
        print("\nStopping anvil.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
