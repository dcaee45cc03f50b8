"""The data scientist's side of Hydrogen: post a model, evaluate gradients, pay, close.

`DataScientist` ties the pieces together: Paillier keys (`pysonar.crypto.keys`), the
encrypted model and its IPFS format (`pysonar.model.encrypted_model`,
`pysonar.formats.codec`), an IPFS node (`pysonar.ipfs`) and the ModelRepository contract
(`sonar.client`). It keeps the plaintext weights and the validation rows, which never leave
it.

Ten mines answer each model version at about the same time, so by the time a gradient is
evaluated the model has usually moved on. A gradient is read against the encrypted model of
the version it names (every version's is kept), decrypted, applied to the CURRENT weights by
the update rule (`pysonar.model.optimizer`), and paid for the error it removes from the
current best, which is what the contract's formula pays. One that does not lower the error
is recorded unpaid, with the model's best error rather than the error it measured: exact
errors of chosen gradients would let anyone with a few addresses probe the validation set.

Each gradient is decrypted and scored on its own, because the contract pays each submitter
for the error its own gradient removed. Nothing in one gradient stops the others: a
gradient that cannot be used (not a valid gradient object, from another key, a value too
large, a step past the model's weight bound, an object IPFS refuses) is recorded unpaid
with the reason; one that cannot be fetched yet waits in the inbox and is fetched again
with backoff (`pysonar.data_scientist.inbox`).

Errors on the contract are integers: round(MSE * 10**6) (`pysonar.model.error_scale`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType, TracebackType

import numpy as np

from pysonar.crypto.keys import KeyPair
from pysonar.crypto.obfuscation import ObfuscationPool
from pysonar.data_scientist.inbox import Fetched, GradientInbox
from pysonar.diabetes import Shard
from pysonar.errors import ModelMismatch, PySonarError
from pysonar.formats.codec import MAX_GRADIENT_BYTES, read_gradient, write_model
from pysonar.ipfs import Cid, IpfsClient, IpfsTimeout, IpfsUnavailable, cid_to_digest, digest_to_cid
from pysonar.model.aggregation import decrypt_gradient, decrypt_mean_gradient
from pysonar.model.encrypted_model import EncryptedModel, encrypt_model
from pysonar.model.error_scale import contract_to_mse, mse_to_contract
from pysonar.model.gradient import EncryptedGradient
from pysonar.model.linear_regression import mean_squared_error
from pysonar.model.optimizer import GradientDescent, UpdateRule
from sonar.client import (
    ErrorScore,
    GradientAdded,
    GradientAlreadyEvaluated,
    ModelClosed,
    ModelId,
    ModelRepository,
    Wei,
    Withdrawn,
)

logger = logging.getLogger(__name__)

DEFAULT_FETCH_TIMEOUT = 10.0
# Re-randomising factors kept ready for the next version's encryption: two versions' worth.
_POOLED_VERSIONS = 2


class GradientUnavailable(PySonarError):
    """A gradient's object could not be fetched from IPFS yet; it stays pending."""

    def __init__(self, gradient_id: int, cid: str, cause: Exception) -> None:
        super().__init__(f"gradient {gradient_id} ({cid}) is not available yet: {cause}")
        self.gradient_id = gradient_id
        self.cid = cid


@dataclass(frozen=True, eq=False)
class ModelVersion:
    """One version of the model's weights, as the data scientist holds it."""

    version: int
    weights: np.ndarray
    encrypted: EncryptedModel
    cid: Cid
    error: ErrorScore


@dataclass(frozen=True)
class TrainingState:
    """The data scientist's view of one posted model; the plaintext weights stay here.

    `versions` holds every version's weights and encrypted model: a gradient is read against
    the version it was computed against, however old.
    """

    model_id: ModelId
    target_error: ErrorScore
    current: ModelVersion
    versions: Mapping[int, ModelVersion]

    @property
    def weights(self) -> np.ndarray:
        return self.current.weights

    @property
    def encrypted(self) -> EncryptedModel:
        return self.current.encrypted

    @property
    def weights_cid(self) -> Cid:
        return self.current.cid

    @property
    def version(self) -> int:
        return self.current.version

    @property
    def best_error(self) -> ErrorScore:
        return self.current.error

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
    version: int
    closed: bool
    rejected: str | None = None  # why the gradient could not be used, if it could not


class DataScientist:
    """Posts one model and evaluates the gradients submitted for it.

    Parameters:
        repository: the contract, with the data scientist's account to send from.
        ipfs: the data scientist's own IPFS node.
        keys: the Paillier key pair; only the public key is ever published.
        validation: rows held by the data scientist alone, to measure the error on.
        update_rule: how a decrypted gradient changes the weights; by default gradient
            descent at the model's learning rate.
        fetch_timeout: seconds one fetch of a gradient may take before it is retried later.
    """

    def __init__(
        self,
        *,
        repository: ModelRepository,
        ipfs: IpfsClient,
        keys: KeyPair,
        validation: Shard,
        update_rule: UpdateRule | None = None,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
    ) -> None:
        if repository.account is None:
            raise ValueError("the data scientist's repository needs an account to send from")
        self.repository = repository
        self.ipfs = ipfs
        self.keys = keys
        self.validation = validation
        self.update_rule = update_rule
        self.fetch_timeout = fetch_timeout
        self.state: TrainingState | None = None
        self._events = repository.events(next_block=repository.w3.eth.block_number)
        self._inbox = GradientInbox(
            ipfs.api, fetch_timeout=fetch_timeout, max_bytes=MAX_GRADIENT_BYTES
        )
        self._pool = ObfuscationPool(keys.public_key)
        self._stop_filling = threading.Event()
        self._filler: threading.Thread | None = None

    def __enter__(self) -> DataScientist:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Stops the background fetches and precomputation (the model stays as it is)."""
        self._stop_filling.set()
        if self._filler is not None:
            self._filler.join()
        self._inbox.close()

    @property
    def pending(self) -> int:
        """Gradients received but not evaluated yet (being fetched, or waiting to be again)."""
        return len(self._inbox)

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
        if self.update_rule is None:
            self.update_rule = GradientDescent(learning_rate)
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
        first = ModelVersion(0, weights, encrypted, cid, initial_error)
        self.state = TrainingState(
            model_id=ModelId(added.model_id),
            target_error=target_error,
            current=first,
            versions=MappingProxyType({0: first}),
        )
        self._start_precomputing(len(weights))
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
        """Fetches a gradient from IPFS and validates it against the version it names.

        Raises:
            GradientUnavailable: it could not be fetched within `fetch_timeout`.
            InvalidObject, MismatchError: the object is not a valid gradient for this
                model and version, or under another key.
            IpfsError: IPFS refused the object (not a file) or failed otherwise.
        """
        cid = digest_to_cid(event.gradient)
        try:
            data = self.ipfs.cat(cid, timeout=self.fetch_timeout, max_bytes=MAX_GRADIENT_BYTES)
        except IpfsTimeout as error:
            raise GradientUnavailable(event.gradient_id, cid, error) from error
        return self._read(event, data)

    def evaluate(self, event: GradientAdded) -> GradientReview:
        """Fetches one gradient, scores it, and records the result on the contract.

        Raises:
            GradientUnavailable: the object could not be fetched; nothing was recorded.
            IpfsUnavailable: the data scientist's node is down; nothing was recorded.
        """
        cid = digest_to_cid(event.gradient)
        try:
            data = self.ipfs.cat(cid, timeout=self.fetch_timeout, max_bytes=MAX_GRADIENT_BYTES)
        except IpfsTimeout as error:
            raise GradientUnavailable(event.gradient_id, cid, error) from error
        except IpfsUnavailable:
            raise
        except PySonarError as refused:
            return self._refuse(event, refused)
        return self._review(Fetched(event, data))

    def evaluate_new(self, *, wait_seconds: float | None = None) -> list[GradientReview]:
        """Evaluates the gradients that have arrived, in chain order among those fetched.

        New gradients are fetched concurrently; this waits at most `wait_seconds` (by
        default the fetch timeout) for fetches in flight, and evaluates every gradient that
        was fetched or refused by then. The others stay pending, fetched again later with
        backoff, and are evaluated by a later call.
        """
        self._inbox.add(self.new_gradients())
        wait = self.fetch_timeout + 1 if wait_seconds is None else wait_seconds
        reviews: list[GradientReview] = []
        for fetched in self._inbox.collect(wait_seconds=wait):
            if reviews and reviews[-1].closed:
                break  # the target was reached: the contract takes no more evaluations
            try:
                review = self._review(fetched)
            except GradientAlreadyEvaluated:
                logger.warning("gradient %d was evaluated already", fetched.event.gradient_id)
                continue
            except (IpfsTimeout, IpfsUnavailable) as error:
                # Our own node failed while storing the new weights: not the gradient's fault.
                self._inbox.retry_later(fetched.event, error)
                continue
            reviews.append(review)
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

    def _read(self, event: GradientAdded, data: bytes) -> EncryptedGradient:
        state = self._posted()
        against = state.versions.get(event.version)
        if against is None:
            raise ModelMismatch(
                what="model version (no weights of that version were published)",
                expected=f"0 to {state.version}",
                found=event.version,
            )
        gradient = read_gradient(data, model=against.encrypted, model_id=state.model_id)
        if gradient.model_version != event.version:
            raise ModelMismatch(
                what="model version (object vs contract)",
                expected=event.version,
                found=gradient.model_version,
            )
        return gradient

    def _review(self, fetched: Fetched) -> GradientReview:
        """Scores a fetched gradient and records it; refusals are recorded unpaid."""
        event = fetched.event
        state = self._posted()
        try:
            if fetched.refusal is not None:
                raise fetched.refusal
            assert fetched.data is not None
            gradient = self._read(event, fetched.data)
            step = decrypt_gradient(gradient, self.keys.private_key)
            assert self.update_rule is not None
            candidate = self.update_rule.step(
                state.weights, step, state.versions[event.version].weights
            )
            error = mse_to_contract(self.validation_mse(candidate))
            if error >= state.best_error:
                return self._record(event, error=state.best_error)
            encrypted = encrypt_model(
                candidate,
                self.keys.public_key,
                weight_bound=state.encrypted.weight_bound,
                learning_rate=state.encrypted.learning_rate,
                model_version=state.version + 1,
                pool=self._pool,
            )
        except (PySonarError, OverflowError) as refused:
            # OverflowError: a decrypted value beyond the float range.
            return self._refuse(event, refused)
        return self._record(event, error=error, improved=(candidate, encrypted))

    def _refuse(self, event: GradientAdded, refused: Exception) -> GradientReview:
        logger.warning(
            "refusing gradient %d from %s (%s): %s",
            event.gradient_id,
            event.submitter,
            digest_to_cid(event.gradient),
            refused,
        )
        return self._record(event, error=self._posted().best_error, rejected=str(refused))

    def _record(
        self,
        event: GradientAdded,
        *,
        error: int,
        improved: tuple[np.ndarray, EncryptedModel] | None = None,
        rejected: str | None = None,
    ) -> GradientReview:
        state = self._posted()
        weights_cid = state.weights_cid
        if improved is not None:
            weights_cid = self.ipfs.add(write_model(improved[1]), pin=True)
        evaluation = self.repository.eval_gradient(
            event.gradient_id, new_error=error, weights=cid_to_digest(weights_cid)
        )
        payout = evaluation.evaluated.payout
        if improved is not None:
            version = ModelVersion(
                evaluation.evaluated.version,
                improved[0],
                improved[1],
                weights_cid,
                ErrorScore(error),
            )
            self.state = replace(
                state,
                current=version,
                versions=MappingProxyType({**state.versions, version.version: version}),
            )
        logger.info(
            "gradient %d from %s (against version %d): MSE %.1f, %s, paid %d wei",
            event.gradient_id,
            event.submitter,
            event.version,
            contract_to_mse(error),
            "improved" if improved is not None else rejected or "no improvement",
            payout,
        )
        return GradientReview(
            gradient_id=event.gradient_id,
            submitter=event.submitter,
            gradient_cid=digest_to_cid(event.gradient),
            computed_against=event.version,
            error=ErrorScore(error),
            improved=improved is not None,
            payout=payout,
            weights_cid=weights_cid,
            version=evaluation.evaluated.version,
            closed=evaluation.closed is not None,
            rejected=rejected,
        )

    def _start_precomputing(self, factor_count: int) -> None:
        """Keeps re-randomising factors ready for the next versions' encryption, computed
        while the data scientist waits on the chain and IPFS."""
        target = factor_count * _POOLED_VERSIONS

        def fill() -> None:
            while not self._stop_filling.wait(0.02):
                if len(self._pool) < target:
                    self._pool.fill(len(self._pool) + 1)

        self._filler = threading.Thread(target=fill, name="obfuscation-pool", daemon=True)
        self._filler.start()
