"""Decodes ModelRepository's logs into event records, and reads them from a block cursor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.contract import Contract
from web3.types import LogReceipt

from sonar.client.types import (
    CidDigest,
    ErrorScore,
    Event,
    GradientAdded,
    GradientEvaluated,
    GradientId,
    LogPosition,
    ModelAdded,
    ModelClosed,
    ModelId,
    Wei,
    Withdrawn,
)


def _model_added(position: LogPosition, a: dict[str, Any]) -> ModelAdded:
    return ModelAdded(
        position,
        ModelId(a["modelId"]),
        a["owner"],
        CidDigest(a["weights"]),
        Wei(a["bounty"]),
        ErrorScore(a["initialError"]),
        ErrorScore(a["targetError"]),
    )


def _gradient_added(position: LogPosition, a: dict[str, Any]) -> GradientAdded:
    return GradientAdded(
        position,
        GradientId(a["gradientId"]),
        ModelId(a["modelId"]),
        a["submitter"],
        a["version"],
        CidDigest(a["gradient"]),
    )


def _gradient_evaluated(position: LogPosition, a: dict[str, Any]) -> GradientEvaluated:
    return GradientEvaluated(
        position,
        GradientId(a["gradientId"]),
        ModelId(a["modelId"]),
        a["submitter"],
        ErrorScore(a["newError"]),
        Wei(a["payout"]),
        CidDigest(a["weights"]),
        a["version"],
    )


def _model_closed(position: LogPosition, a: dict[str, Any]) -> ModelClosed:
    return ModelClosed(position, ModelId(a["modelId"]), Wei(a["refund"]), a["targetReached"])


def _withdrawn(position: LogPosition, a: dict[str, Any]) -> Withdrawn:
    return Withdrawn(position, a["account"], a["recipient"], Wei(a["amount"]))


_RECORDS: dict[str, Callable[[LogPosition, dict[str, Any]], Event]] = {
    "ModelAdded": _model_added,
    "GradientAdded": _gradient_added,
    "GradientEvaluated": _gradient_evaluated,
    "ModelClosed": _model_closed,
    "Withdrawn": _withdrawn,
}


class EventDecoder:
    """Turns the contract's raw logs into event records; other logs are skipped."""

    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        self._by_topic = {
            event_abi_to_log_topic(entry): entry["name"]  # type: ignore[arg-type]
            for entry in contract.abi
            if entry.get("type") == "event"
        }

    def decode(self, log: LogReceipt) -> Event | None:
        if log["address"] != self._contract.address or not log["topics"]:
            return None
        name = self._by_topic.get(bytes(log["topics"][0]))
        if name is None:
            return None
        decoded = getattr(self._contract.events, name)().process_log(log)
        position = LogPosition(
            decoded["blockNumber"], decoded["logIndex"], decoded["transactionHash"].to_0x_hex()
        )
        return _RECORDS[name](position, dict(decoded["args"]))

    def decode_all(self, logs: Sequence[LogReceipt]) -> list[Event]:
        return [event for log in logs if (event := self.decode(log)) is not None]


class EventCursor:
    """Reads the contract's events in order, from block `next_block` on.

    `next_block` is the whole state: store it after handling a batch and a restarted
    reader resumes exactly there, seeing every event once. Local chains do not reorganise;
    on a chain that does, read only blocks with `confirmations` blocks on top of them.
    """

    def __init__(
        self,
        w3: Web3,
        decoder: EventDecoder,
        address: str,
        *,
        next_block: int = 0,
        confirmations: int = 0,
        max_blocks: int = 2_000,
    ) -> None:
        self._w3 = w3
        self._decoder = decoder
        self._address = address
        self.next_block = next_block
        self._confirmations = confirmations
        self._max_blocks = max_blocks

    def poll(self) -> list[Event]:
        """The events of the blocks not read yet (at most `max_blocks` of them), in order."""
        last = self._w3.eth.block_number - self._confirmations
        if last < self.next_block:
            return []
        to_block = min(last, self.next_block + self._max_blocks - 1)
        logs = self._w3.eth.get_logs(
            {"address": self._address, "fromBlock": self.next_block, "toBlock": to_block}
        )
        events = self._decoder.decode_all(
            sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"]))
        )
        self.next_block = to_block + 1
        return events

    def poll_to_head(self) -> list[Event]:
        """Every event from `next_block` to the chain's current block, in order (read in
        batches of at most `max_blocks`)."""
        head = self._w3.eth.block_number - self._confirmations
        events: list[Event] = []
        while self.next_block <= head:
            events += self.poll()
        return events
