"""Units and records of the ModelRepository client: what views and events return."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NewType

Wei = NewType("Wei", int)
ModelId = NewType("ModelId", int)
"""The contract's id of a model: 0, 1, ... in the order models were posted."""
GradientId = NewType("GradientId", int)
"""The contract's id of a gradient: model id, version and submitter packed (see gradient_id_of)."""
ErrorScore = NewType("ErrorScore", int)
"""A model's error as the contract stores it: a uint64 on a scale the clients agree on.

PySonar's scale is round(MSE * 10**6) (`pysonar.model.error_scale`). Lower is better."""
CidDigest = NewType("CidDigest", bytes)
"""The 32-byte sha256 digest of a CIDv0, which is what the contract stores."""


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
    position: LogPosition
    account: str
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
