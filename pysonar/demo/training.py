"""The data scientist's side of the demo: post the model, evaluate round after round, settle.

Rounds: the ten mines answer the current version; `DataScientist.evaluate_round` waits for
their gradients and records them in one transaction, in an order that starts from another
mine each round. Training stops when the target is reached (the contract closes the model),
when a whole round brings no improvement (no mine can help at this version: converged),
or at the version or time limit; the data scientist then closes the model if it is still
open and withdraws the refund.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pysonar.data_scientist import DataScientist, GradientReview, TrainingState
from sonar.client import Withdrawn


@dataclass(frozen=True)
class TrainingOptions:
    """How the data scientist trains: the bounty, the target and the limits."""

    bounty_wei: int
    target_mse: float
    learning_rate: float
    weight_bound: float
    mines: int
    max_versions: int
    max_seconds: float
    round_timeout: float


@dataclass(frozen=True)
class RoundRecord:
    """One round: the version it answered, its gradients, and where it left the model."""

    index: int
    base_version: int
    reviews: tuple[GradientReview, ...]
    version: int
    mse: float
    seconds: float


@dataclass
class TrainingResult:
    """What training did, for the report."""

    initial_mse: float
    target_mse: float
    initial_weights: np.ndarray
    rounds: list[RoundRecord] = field(default_factory=list)
    stopped_because: str = ""
    paid_wei: int = 0
    refund_wei: int = 0
    refund: Withdrawn | None = None
    seconds: float = 0.0

    @property
    def reviews(self) -> list[GradientReview]:
        return [review for record in self.rounds for review in record.reviews]


ProgressCallback = Callable[[DataScientist, RoundRecord | None], None]


def train(
    scientist: DataScientist,
    options: TrainingOptions,
    *,
    feature_count: int,
    on_round: ProgressCallback = lambda scientist, record: None,
) -> TrainingResult:
    """Posts a model and trains it with the mines until it stops.

    The model starts as the best constant the data scientist can fit alone: zero feature
    weights and the mean of its validation targets as the bias. Paying mines for finding
    the mean would spend most of the bounty on the first gradient of round 0.

    Parameters:
        scientist: the data scientist, with its repository, IPFS node, keys and rows.
        options: bounty, target and limits.
        feature_count: d, the number of features.
        on_round: called after posting (with None) and after every round.
    """
    began = time.monotonic()
    initial = np.zeros(feature_count + 1)
    initial[-1] = float(np.mean(scientist.validation.targets))
    state = scientist.post_model(
        initial,
        bounty=options.bounty_wei,
        target_mse=options.target_mse,
        learning_rate=options.learning_rate,
        weight_bound=options.weight_bound,
    )
    result = TrainingResult(
        initial_mse=state.best_mse, target_mse=options.target_mse, initial_weights=initial
    )
    on_round(scientist, None)
    while not result.stopped_because:
        round_began = time.monotonic()
        base = _state(scientist).version
        reviews = scientist.evaluate_round(
            gradients=options.mines, timeout=options.round_timeout, first=len(result.rounds)
        )
        state = _state(scientist)
        record = RoundRecord(
            index=len(result.rounds),
            base_version=base,
            reviews=tuple(reviews),
            version=state.version,
            mse=state.best_mse,
            seconds=time.monotonic() - round_began,
        )
        result.rounds.append(record)
        on_round(scientist, record)
        result.stopped_because = _stop_reason(reviews, state, options, time.monotonic() - began)
    if not any(review.closed for review in result.reviews):
        scientist.close()
    model = scientist.repository.get_model(state.model_id)
    result.paid_wei, result.refund_wei = model.paid, model.refunded
    if result.refund_wei:
        result.refund = scientist.withdraw()
    result.seconds = time.monotonic() - began
    return result


def _stop_reason(
    reviews: list[GradientReview], state: TrainingState, options: TrainingOptions, elapsed: float
) -> str:
    if any(review.closed for review in reviews):
        return "target reached"
    if not reviews:
        return f"no gradient arrived within {options.round_timeout:g} s"
    if not any(review.improved for review in reviews):
        return "converged: a whole round brought no improvement"
    if state.version >= options.max_versions:
        return f"version limit ({options.max_versions}) reached"
    if elapsed >= options.max_seconds:
        return f"time limit ({options.max_seconds:g} s) reached"
    return ""


def _state(scientist: DataScientist) -> TrainingState:
    assert scientist.state is not None
    return scientist.state
