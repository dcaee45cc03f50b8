"""Records of the ModelRepository client, what views and events return, and its units."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# The units are defined once, in sonar.units; the client re-exports them with its records.
from sonar.units import CidDigest, ErrorScore, GradientId, ModelId, Wei


class GradientStatus(IntEnum):
    NONE = 0
    SUBMITTED = 1
    EVALUATED = 2


@dataclass(frozen=True)
class ModelState:
    model_id: ModelId
    owner: str
    weights: CidDigest
    version: int
    gradient_count: int
    closed: bool
    bounty: Wei
    paid: Wei
    remaining: Wei
    refunded: Wei
    initial_error: ErrorScore
    target_error: ErrorScore
    best_error: ErrorScore


@dataclass(frozen=True)
class GradientState:
    gradient_id: GradientId
    model_id: ModelId
    version: int
    submitter: str
    status: GradientStatus
    new_error: ErrorScore
    payout: Wei


@dataclass(frozen=True)
class LogPosition:
    """Where an event was logged: blocks and log indexes order events totally."""

    block_number: int
    log_index: int
    transaction_hash: str


@dataclass(frozen=True)
class ModelAdded:
    position: LogPosition
    model_id: ModelId
    owner: str
    weights: CidDigest
    bounty: Wei
    initial_error: ErrorScore
    target_error: ErrorScore


@dataclass(frozen=True)
class GradientAdded:
    position: LogPosition
    gradient_id: GradientId
    model_id: ModelId
    submitter: str
    version: int
    gradient: CidDigest


@dataclass(frozen=True)
class GradientEvaluated:
    position: LogPosition
    gradient_id: GradientId
    model_id: ModelId
    submitter: str
    new_error: ErrorScore
    payout: Wei
    weights: CidDigest
    version: int


@dataclass(frozen=True)
class ModelClosed:
    position: LogPosition
    model_id: ModelId
    refund: Wei
    target_reached: bool


@dataclass(frozen=True)
class Withdrawn:
    """`account`'s credit, `amount` wei, was sent to `recipient` (`account` itself unless
    it withdrew with `withdraw_to`)."""

    position: LogPosition
    account: str
    recipient: str
    amount: Wei


Event = ModelAdded | GradientAdded | GradientEvaluated | ModelClosed | Withdrawn


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation emitted: always GradientEvaluated, ModelClosed at the target."""

    evaluated: GradientEvaluated
    closed: ModelClosed | None


@dataclass(frozen=True)
class BatchEvaluation:
    """What a batch of evaluations emitted: a GradientEvaluated per gradient, in order, and
    ModelClosed if the last one reached the target."""

    evaluated: tuple[GradientEvaluated, ...]
    closed: ModelClosed | None
    gas_used: int
