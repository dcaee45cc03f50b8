"""The escrow state machine at length: 10,000 random steps or more, half on each backend.

`./pants run sonar/benchmarks:escrow [-- --steps N --seed S]`. The same machine as
`sonar/client/invariants_test.py` (see `sonar.client.escrow_machine`), which `./pants test`
runs for a few hundred steps; this runs it long enough to reach rare states (many models,
dust, batches after closes), so it is a separate target that `./pants test ::` never runs.
Each run draws new sequences from a random seed, printed first: `--seed` replays a run. On
a failure Hypothesis prints the shortest failing sequence of calls it found, and the
command exits non-zero.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass

from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from sonar.chain import AnvilChain, EthTesterChain, LocalChain
from sonar.client.escrow_machine import Stats, machine_for

BACKENDS = ("eth-tester", "anvil")
STEPS_PER_EXAMPLE = 50


@dataclass(frozen=True)
class Run:
    backend: str
    examples: int
    steps: int
    seconds: float


def start(backend: str) -> LocalChain:
    return AnvilChain() if backend == "anvil" else EthTesterChain()


def run(backend: str, steps: int, run_seed: int) -> Run:
    """Runs the machine on a fresh `backend` chain until it has made `steps` calls."""
    started = time.monotonic()
    stats = Stats()
    with start(backend) as chain:
        signers = [account.signer() for account in chain.accounts]
        machine = machine_for(chain, signers, stats)
        rounds = 0
        while stats.steps < steps:
            # Each round draws its own sequences; a few more examples than the steps left
            # need, since Hypothesis ends some sequences early.
            left = steps - stats.steps
            examples = math.ceil(left / STEPS_PER_EXAMPLE * 1.1)
            run_state_machine_as_test(
                seed(run_seed + rounds)(machine),
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=STEPS_PER_EXAMPLE,
                    deadline=None,
                    database=None,
                    print_blob=True,
                    suppress_health_check=list(HealthCheck),
                ),
            )
            rounds += 1
    return Run(backend, stats.examples, stats.steps, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=10_000, help="contract calls in all")
    parser.add_argument("--seed", type=int, default=None, help="replay the run of this seed")
    args = parser.parse_args(argv)
    run_seed = random.randrange(2**32) if args.seed is None else args.seed
    print(f"seed {run_seed}: {args.steps:,} steps or more across {', '.join(BACKENDS)}")
    runs = []
    for index, backend in enumerate(BACKENDS):
        share = math.ceil(args.steps / len(BACKENDS))
        runs.append(run(backend, share, run_seed + 1_000_000 * index))
        done = runs[-1]
        print(
            f"{done.backend:<11} {done.steps:>7,} steps in {done.examples:>5,} sequences, "
            f"{done.seconds:,.0f} s ({done.steps / done.seconds:.1f} steps/s)",
            flush=True,
        )
    total = sum(r.steps for r in runs)
    print(f"{'total':<11} {total:>7,} steps: every invariant held after every step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
