"""Random sequences of calls from several accounts never break the escrow's invariants.

The state machine and what it checks after every step are in `escrow_machine.py`: per model,
paid + remaining + refunded == bounty to the wei; the contract's balance >= outstanding
credits + open escrow (beyond them, exactly the ether forced in by selfdestruct); every
credit as a reference model predicts. Here it runs a few hundred steps per backend, the
same ones on every run; `./pants run sonar/benchmarks:escrow` runs ten thousand and more.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from sonar.chain import LocalChain
from sonar.client.escrow_machine import Stats, machine_for


def test_random_call_sequences_keep_the_escrow_invariants(
    chain: LocalChain, signers: list[LocalAccount]
) -> None:
    stats = Stats()
    run_state_machine_as_test(
        machine_for(chain, signers, stats),
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,  # the same sequences on every run: CI is reproducible
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert stats.steps >= 12 * 20  # the sequences ran, at (almost) their full length
