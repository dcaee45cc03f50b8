"""The gas benchmark's cases meet their goals, so a change that breaks one fails a test."""

from __future__ import annotations

from sonar.benchmarks.gas import GOALS, measure, missed, verdicts
from sonar.chain import AnvilChain


def test_every_case_of_the_gas_benchmark_meets_its_goal() -> None:
    with AnvilChain() as chain:
        rows = measure(chain)

    assert {row.function for row in rows if row.goal is not None} == set(GOALS)
    assert missed(rows) == [], verdicts(rows)
