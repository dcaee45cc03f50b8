"""The data scientist's side of Hydrogen: post a model, evaluate gradients, pay, close.

`DataScientist` ties the pieces together: Paillier keys (`pysonar.crypto.keys`), the encrypted
model and its IPFS format (`pysonar.model.encrypted_model`, `pysonar.formats.codec`), an IPFS node
(`pysonar.ipfs`) and the ModelRepository contract (`sonar.client`). It keeps the
plaintext weights and the validation rows, which never leave it.

Each gradient is decrypted and scored on its own, because the contract pays each
submitter for the error its own gradient removed. `combined_gradient` sums several
encrypted gradients first and decrypts once per weight, for a data scientist who only
wants the joint step.

Errors on the contract are integers: round(MSE * 10**6) (`pysonar.model.error_scale`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from pysonar.crypto.keys import KeyPair
from pysonar.diabetes import Shard
from pysonar.errors import InvalidObject, MismatchError, PySonarError
from pysonar.formats.codec import MAX_GRADIENT_BYTES, read_gradient, write_model
from pysonar.ipfs import Cid, IpfsClient, IpfsTimeout, cid_to_digest, digest_to_cid
from pysonar.model.aggregation import decrypt_gradient, decrypt_mean_gradient
from pysonar.model.encrypted_model import EncryptedModel, encrypt_model
from pysonar.model.error_scale import ErrorScore, contract_to_mse, mse_to_contract
from pysonar.model.gradient import EncryptedGradient
from pysonar.model.linear_regression import apply_gradient, mean_squared_error
from sonar.client import GradientAdded, ModelClosed, ModelRepository, Wei, Withdrawn
from sonar.client.types import ModelId

logger = logging.getLogger(__name__)

DEFAULT_FETCH_TIMEOUT = 30.0


class GradientUnavailable(PySonarError):
    """A gradient's object could not be fetched from IPFS yet; it stays pending."""

    def __init__(self, gradient_id: int, cid: str, cause: Exception) -> None:
        super().__init__(f"gradient {gradient_id} ({cid}) is not available yet: {cause}")
        self.gradient_id = gradient_id
        self.cid = cid


@dataclass(frozen=True)
class TrainingState:
    """The data scientist's view of one posted model; the plaintext weights stay here."""

    model_id: ModelId
    weights: np.ndarray
    encrypted: EncryptedModel
    weights_cid: Cid
    version: int
    best_error: ErrorScore
    target_error: ErrorScore

    @property
    def best_mse(self) -> float:
        return contract_to_mse(self.best_error)


@dataclass(frozen=True)
class GradientReview:
    """What the data scientist decided about one gradient, as recorded on the contract."""

    gradient_id: int
    submitter: str
    gradient_cid: Cid
    computed_against: int
    error: ErrorScore
    improved: bool
    payout: Wei
    weights_cid: Cid
    closed: bool
    rejected: str | None = None  # why the object was refused, if it was


class DataScientist:
    """Posts one model and evaluates the gradients submitted for it.

    Parameters:
        repository: the contract, with the data scientist's account to send from.
        ipfs: the data scientist's own IPFS node.
        keys: the Paillier key pair; only the public key is ever published.
        validation: rows held by the data scientist alone, to measure the error on.
        fetch_timeout: seconds to wait for a gradient's object before leaving it pending.
    """

    def __init__(
        self,
        *,
        repository: ModelRepository,
        ipfs: IpfsClient,
        keys: KeyPair,
        validation: Shard,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
    ) -> None:
        if repository.account is None:
            raise ValueError("the data scientist's repository needs an account to send from")
        self.repository = repository
        self.ipfs = ipfs
        self.keys = keys
        self.validation = validation
        self.fetch_timeout = fetch_timeout
        self.state: TrainingState | None = None
        self._events = repository.events(next_block=repository.w3.eth.block_number)

    # -- posting -----------------------------------------------------------------------------

    def validation_mse(self, weights: np.ndarray) -> float:
        return mean_squared_error(weights, self.validation.features, self.validation.targets)

    def post_model(
        self,
        initial_weights: np.ndarray,
        *,
        bounty: int,
        target_mse: float,
        learning_rate: float,
        weight_bound: float,
    ) -> TrainingState:
        """Encrypts and pins the initial weights, and posts the model with `bounty` wei.

        The initial error is measured on the validation rows; the model closes once an
        evaluated gradient brings the error to `target_mse` or below.

        Raises:
            ValueError: the target is not below the initial error.
            WeightOutOfBound, NonFiniteInput: see `encrypt_model`.
            ContractRevert: the contract refused the model (e.g. InvalidBounty).
        """
        weights = np.asarray(initial_weights, dtype=np.float64)
        initial_error = mse_to_contract(self.validation_mse(weights))
        target_error = mse_to_contract(target_mse)
        if target_error >= initial_error:
            raise ValueError(
                f"target MSE {target_mse} is not below the initial MSE "
                f"{contract_to_mse(initial_error)} on the validation rows"
            )
        encrypted = encrypt_model(
            weights,
            self.keys.public_key,
            weight_bound=weight_bound,
            learning_rate=learning_rate,
            model_version=0,
        )
        cid = self.ipfs.add(write_model(encrypted), pin=True)
        added = self.repository.add_model(
            cid_to_digest(cid),
            initial_error=initial_error,
            target_error=target_error,
            bounty=bounty,
        )
        self.state = TrainingState(
            model_id=ModelId(added.model_id),
            weights=weights,
            encrypted=encrypted,
            weights_cid=cid,
            version=0,
            best_error=initial_error,
            target_error=target_error,
        )
        logger.info(
            "posted model %d: %s, initial MSE %.1f, target %.1f, bounty %d wei",
            added.model_id,
            cid,
            contract_to_mse(initial_error),
            target_mse,
            bounty,
        )
        return self.state

    # -- evaluating --------------------------------------------------------------------------

    def new_gradients(self) -> list[GradientAdded]:
        """Gradients submitted for this model since the last call, in chain order."""
        state = self._posted()
        return [
            event
            for event in self._events.poll()
            if isinstance(event, GradientAdded) and event.model_id == state.model_id
        ]

    def fetch_gradient(self, event: GradientAdded) -> EncryptedGradient:
        """Fetches a gradient from IPFS and validates it against the model.

        Raises:
            GradientUnavailable: it could not be fetched within `fetch_timeout`.
            InvalidObject, MismatchError: the object is not a valid gradient for this
                model and version, or under another key.
        """
        state = self._posted()
        cid = digest_to_cid(event.gradient)
        try:
            data = self.ipfs.cat(cid, timeout=self.fetch_timeout, max_bytes=MAX_GRADIENT_BYTES)
        except IpfsTimeout as error:
            raise GradientUnavailable(event.gradient_id, cid, error) from error
        gradient = read_gradient(data, model=state.encrypted, model_id=state.model_id)
        if gradient.model_version != event.version:
            raise MismatchError(
                what="model version (object vs contract)",
                expected=event.version,
                found=gradient.model_version,
            )
        return gradient

    def evaluate(self, event: GradientAdded) -> GradientReview:
        """Scores one gradient on the validation rows and records the result on the contract.

        The gradient is applied to the current weights. If the error improves, the new
        weights are encrypted, pinned, and the contract credits the submitter and advances
        the model; otherwise the gradient is recorded with no payout. An object that is not
        a valid gradient for this model is recorded the same way, with the reason.

        Raises:
            GradientUnavailable: the object could not be fetched; nothing was recorded.
            IpfsError: IPFS failed otherwise; nothing was recorded.
        """
        state = self._posted()
        cid = digest_to_cid(event.gradient)
        try:
            gradient = self.fetch_gradient(event)
            step = decrypt_gradient(gradient, self.keys.private_key)
        except (InvalidObject, MismatchError, OverflowError) as refused:
            logger.warning("refusing gradient %d from %s: %s", event.gradient_id, cid, refused)
            return self._record(event, cid, error=state.best_error, rejected=str(refused))
        candidate = apply_gradient(state.weights, step, state.encrypted.learning_rate)
        error = mse_to_contract(self.validation_mse(candidate))
        if error >= state.best_error:
            return self._record(event, cid, error=error)
        return self._record(event, cid, error=error, improved_weights=candidate)

    def evaluate_new(self) -> list[GradientReview]:
        """Evaluates every gradient submitted since the last call, in chain order.

        Gradients that cannot be fetched yet are skipped and logged; they are returned by
        `new_gradients` no more, so pass them to `evaluate` again later.
        """
        reviews: list[GradientReview] = []
        for event in self.new_gradients():
            if reviews and reviews[-1].closed:
                break  # the target was reached: the contract takes no more evaluations
            try:
                reviews.append(self.evaluate(event))
            except GradientUnavailable as unavailable:
                logger.warning("%s", unavailable)
        return reviews

    def combined_gradient(self, gradients: Sequence[EncryptedGradient]) -> np.ndarray:
        """The row-weighted mean of several gradients, summed encrypted, decrypted once."""
        return decrypt_mean_gradient(gradients, self.keys.private_key)

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> ModelClosed:
        """Closes the model; the unspent bounty is credited to the data scientist."""
        return self.repository.close_model(self._posted().model_id)

    def withdraw(self) -> Withdrawn:
        """Takes the refunds credited to the data scientist."""
        return self.repository.withdraw()

    # -- internals ---------------------------------------------------------------------------

    def _posted(self) -> TrainingState:
        if self.state is None:
            raise PySonarError("no model posted yet: call post_model first")
        return self.state

    def _record(
        self,
        event: GradientAdded,
        cid: Cid,
        *,
        error: int,
        improved_weights: np.ndarray | None = None,
        rejected: str | None = None,
    ) -> GradientReview:
        state = self._posted()
        weights_cid = state.weights_cid
        encrypted = state.encrypted
        if improved_weights is not None:
            encrypted = encrypt_model(
                improved_weights,
                self.keys.public_key,
                weight_bound=state.encrypted.weight_bound,
                learning_rate=state.encrypted.learning_rate,
                model_version=state.version + 1,
            )
            weights_cid = self.ipfs.add(write_model(encrypted), pin=True)
        evaluation = self.repository.eval_gradient(
            event.gradient_id, new_error=error, weights=cid_to_digest(weights_cid)
        )
        payout = evaluation.evaluated.payout
        if improved_weights is not None:
            self.state = replace(
                state,
                weights=improved_weights,
                encrypted=encrypted,
                weights_cid=weights_cid,
                version=evaluation.evaluated.version,
                best_error=ErrorScore(error),
            )
        logger.info(
            "gradient %d from %s: MSE %.1f, %s, paid %d wei",
            event.gradient_id,
            event.submitter,
            contract_to_mse(error),
            "improved" if improved_weights is not None else "no improvement",
            payout,
        )
        return GradientReview(
            gradient_id=event.gradient_id,
            submitter=event.submitter,
            gradient_cid=cid,
            computed_against=event.version,
            error=ErrorScore(error),
            improved=improved_weights is not None,
            payout=payout,
            weights_cid=weights_cid,
            closed=evaluation.closed is not None,
            rejected=rejected,
        )
