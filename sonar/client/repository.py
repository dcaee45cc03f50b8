"""Typed access to ModelRepository: its views, and its transactions signed locally."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from sonar.address import CONTRACT_ADDRESS
from sonar.artifacts import ContractArtifact, load_contract
from sonar.client.errors import RevertDecoder, SonarError, TransactionReverted
from sonar.client.events import EventCursor, EventDecoder
from sonar.client.types import (
    BatchEvaluation,
    CidDigest,
    ErrorScore,
    Evaluation,
    Event,
    GradientAdded,
    GradientEvaluated,
    GradientId,
    GradientState,
    GradientStatus,
    ModelAdded,
    ModelClosed,
    ModelId,
    ModelState,
    Wei,
    Withdrawn,
)

# Gas estimates are exact for the state they ran on; leave room for state that changes
# before the transaction is mined (e.g. a credit that grows).
GAS_MARGIN = 1.25
RECEIPT_TIMEOUT_SECONDS = 120


def gradient_id_of(model_id: int, version: int, submitter: str) -> GradientId:
    """The contract's gradient id: model id, version and submitter packed in 64/32/160 bits."""
    return GradientId((model_id << 192) | (version << 160) | int(submitter, 16))


class ModelRepository:
    """A ModelRepository at `address`, read through `w3` and written as `account`.

    Transactions are signed locally and sent raw, so the same code works against anvil and
    eth-tester. Every revert raises the contract error's own exception (see errors.py),
    decoded before anything is sent: a transaction that would revert is never submitted.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount | None = None,
        *,
        address: str = CONTRACT_ADDRESS,
        artifact: ContractArtifact | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.artifact = artifact or load_contract("ModelRepository")
        self.contract = w3.eth.contract(address=address, abi=self.artifact.abi)
        self.address = self.contract.address
        self._reverts = RevertDecoder(self.artifact.abi)
        self._events = EventDecoder(self.contract)
        self._chain_id: int | None = None

    def as_account(self, account: LocalAccount) -> ModelRepository:
        """The same repository and connection, signing as `account`."""
        return ModelRepository(self.w3, account, address=self.address, artifact=self.artifact)

    # -- views ------------------------------------------------------------------------------

    def model_count(self) -> int:
        return self._call(self.contract.functions.modelCount())

    def get_model(self, model_id: int) -> ModelState:
        """Raises ModelNotFound if there is no such model."""
        view = self._call(self.contract.functions.getModel(model_id))
        return ModelState(ModelId(model_id), *view)

    def get_gradient(self, gradient_id: int) -> GradientState:
        """Raises GradientNotFound if there is no such gradient."""
        model_id, version, submitter, status, new_error, payout = self._call(
            self.contract.functions.getGradient(gradient_id)
        )
        return GradientState(
            GradientId(gradient_id),
            ModelId(model_id),
            version,
            submitter,
            GradientStatus(status),
            ErrorScore(new_error),
            Wei(payout),
        )

    def credit_of(self, account: str) -> Wei:
        return Wei(self._call(self.contract.functions.creditOf(account)))

    def balance(self) -> Wei:
        """The contract's balance: at least the outstanding credits plus open models' escrow
        (ether forced in, e.g. by a selfdestruct, is on top of them and nobody's credit)."""
        return Wei(self.w3.eth.get_balance(self.address))

    # -- transactions -----------------------------------------------------------------------

    def add_model(
        self, weights: CidDigest, *, initial_error: int, target_error: int, bounty: int
    ) -> ModelAdded:
        """Posts a model with `bounty` wei in escrow; returns its ModelAdded event."""
        receipt = self._transact(
            self.contract.functions.addModel(weights, initial_error, target_error), value=bounty
        )
        return self._single(receipt, ModelAdded)

    def add_gradient(self, model_id: int, gradient: CidDigest) -> GradientAdded:
        """Submits a gradient for the model's current version; returns its GradientAdded."""
        receipt = self._transact(self.contract.functions.addGradient(model_id, gradient))
        return self._single(receipt, GradientAdded)

    def eval_gradient(self, gradient_id: int, *, new_error: int, weights: CidDigest) -> Evaluation:
        """Records the owner's evaluation; credits the submitter if the error improved."""
        receipt = self._transact(
            self.contract.functions.evalGradient(gradient_id, new_error, weights)
        )
        events = self._decode(receipt)
        closed = [event for event in events if isinstance(event, ModelClosed)]
        return Evaluation(
            evaluated=self._only(events, GradientEvaluated), closed=closed[0] if closed else None
        )

    def eval_gradients(
        self, model_id: int, evaluations: Sequence[tuple[int, int, CidDigest]]
    ) -> BatchEvaluation:
        """Records several evaluations of model `model_id`'s gradients in one transaction.

        Parameters:
            model_id: the model.
            evaluations: (gradient id, new error, weights digest) per gradient, in the order
                they are evaluated; none may follow one that reaches the target.
        """
        ids, errors, digests = (
            (list(column) for column in zip(*evaluations)) if evaluations else ([], [], [])
        )
        receipt = self._transact(
            self.contract.functions.evalGradients(model_id, ids, errors, digests)
        )
        events = self._decode(receipt)
        closed = [event for event in events if isinstance(event, ModelClosed)]
        return BatchEvaluation(
            evaluated=tuple(event for event in events if isinstance(event, GradientEvaluated)),
            closed=closed[0] if closed else None,
            gas_used=receipt["gasUsed"],
        )

    def close_model(self, model_id: int) -> ModelClosed:
        """Closes the model and credits its unspent bounty to the owner."""
        receipt = self._transact(self.contract.functions.closeModel(model_id))
        return self._single(receipt, ModelClosed)

    def withdraw(self) -> Withdrawn:
        """Sends this account all of its credit."""
        return self._single(self._transact(self.contract.functions.withdraw()), Withdrawn)

    def withdraw_to(self, to: str) -> Withdrawn:
        """Sends all of this account's credit to `to`, e.g. when this account cannot receive
        ether. Raises InvalidRecipient for the zero address, NothingToWithdraw without
        credit, and WithdrawalFailed if `to` refuses the transfer."""
        return self._single(self._transact(self.contract.functions.withdrawTo(to)), Withdrawn)

    # -- events -----------------------------------------------------------------------------

    def events(
        self, *, next_block: int = 0, confirmations: int = 0, max_blocks: int = 2_000
    ) -> EventCursor:
        """A cursor over this contract's events, starting at block `next_block` and reading
        at most `max_blocks` blocks per poll."""
        return EventCursor(
            self.w3,
            self._events,
            self.address,
            next_block=next_block,
            confirmations=confirmations,
            max_blocks=max_blocks,
        )

    def gas_used(self, event: Event) -> int:
        """The gas of the transaction that emitted `event`."""
        receipt = self.w3.eth.get_transaction_receipt(event.position.transaction_hash)
        return receipt["gasUsed"]

    # -- internals --------------------------------------------------------------------------

    def _call(self, function: ContractFunction) -> Any:
        try:
            return function.call()
        except Exception as error:  # backends differ in what they raise; see _reraise
            self._reraise(error)

    def _transact(self, function: ContractFunction, *, value: int = 0) -> TxReceipt:
        if self.account is None:
            raise SonarError("this ModelRepository has no account to send transactions from")
        params: dict[str, Any] = {"from": self.account.address, "value": value}
        try:
            gas = function.estimate_gas(params)  # type: ignore[arg-type]
        except Exception as error:  # backends differ in what they raise; see _reraise
            self._reraise(error)
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        transaction = function.build_transaction(
            {
                **params,
                "gas": int(gas * GAS_MARGIN),
                "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                "chainId": self._chain_id,
            }
        )
        signed = self.account.sign_transaction(transaction)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_SECONDS)
        if receipt["status"] != 1:
            raise TransactionReverted(tx_hash.to_0x_hex(), receipt["gasUsed"])
        return receipt

    def _reraise(self, error: Exception) -> NoReturn:
        """Raises the contract error `error` reports, or `error` itself if it is no revert."""
        decoded = self._reverts.from_call_error(error)
        if decoded is None:
            raise error
        raise decoded from error

    def _decode(self, receipt: TxReceipt) -> list[Event]:
        return self._events.decode_all(receipt["logs"])

    def _single(self, receipt: TxReceipt, kind: type[Any]) -> Any:
        return self._only(self._decode(receipt), kind)

    @staticmethod
    def _only(events: list[Event], kind: type[Any]) -> Any:
        matching = [event for event in events if isinstance(event, kind)]
        if len(matching) != 1:
            raise SonarError(f"expected one {kind.__name__} event, got {events}")
        return matching[0]
