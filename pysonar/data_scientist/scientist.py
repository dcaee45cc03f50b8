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

With a state file (`pysonar.data_scientist.saved_state`) the training state survives a
restart or a crash, and nothing is paid twice. Each transaction is written ahead: the
post or batch about to be sent is saved first, its result after. A data scientist that
finds such a pending post or batch when it starts asks the chain whether it was mined
(for a post, a ModelAdded event of this account with those weights; for a batch, the
model's version and weights) and adopts or drops it. Gradient events are then read again
from the saved cursor, and those the contract shows evaluated are skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType, TracebackType

import numpy as np

from pysonar.crypto.keys import KeyPair, key_fingerprint
from pysonar.crypto.obfuscation import ObfuscationPool
from pysonar.data_scientist.inbox import Fetched, GradientInbox
from pysonar.data_scientist.saved_state import (
    PendingBatch,
    PendingPost,
    SavedModel,
    SavedState,
    SavedVersion,
    StateIdentity,
    check_identity,
    load_state,
    save_state,
)
from pysonar.errors import InvalidObject, MismatchError, PySonarError, StateFileError
from pysonar.formats.codec import (
    MAX_GRADIENT_BYTES,
    MAX_MODEL_BYTES,
    read_gradient,
    read_model,
    write_model,
)
from pysonar.ipfs import Cid, IpfsClient, IpfsTimeout, IpfsUnavailable, cid_to_digest, digest_to_cid
from pysonar.model.aggregation import decrypt_gradient
from pysonar.model.encrypted_model import EncryptedModel, encrypt_model
from pysonar.model.error_scale import contract_to_mse, mse_to_contract
from pysonar.model.gradient import EncryptedGradient
from pysonar.model.linear_regression import mean_squared_error
from pysonar.model.optimizer import GradientDescent, UpdateRule
from pysonar.rows import Shard
from sonar.client import (
    ContractRevert,
    ErrorScore,
    GradientAdded,
    GradientAlreadyEvaluated,
    GradientStatus,
    ModelAdded,
    ModelClosed,
    ModelId,
    ModelRepository,
    TransactionReverted,
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


class ModelAlreadyPosted(PySonarError):
    """`post_model` was called while the data scientist holds a posted model (resumed from
    its state file, or posted earlier): it goes on evaluating that one."""

    def __init__(self, model_id: int) -> None:
        super().__init__(
            f"model {model_id} is posted already (resumed from the state file, or posted "
            "earlier): do not post it again, go on evaluating its gradients"
        )
        self.model_id = model_id


class TransactionInFlight(PySonarError):
    """A transaction from the data scientist's account waits to be mined, so whether a
    pending post or batch reached the chain cannot be told yet; try again once it is."""

    def __init__(self, account: str, count: int) -> None:
        super().__init__(
            f"{count} transaction(s) from {account} wait to be mined: whether the last post "
            "or batch reached the chain is not known yet; try again once they are mined"
        )
        self.account = account
        self.count = count


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


@dataclass(frozen=True, eq=False)
class _Decision:
    """What the data scientist will record for one gradient."""

    event: GradientAdded
    error: ErrorScore
    computed_against: int
    improved: tuple[np.ndarray, EncryptedModel] | None = None
    rejected: str | None = None


@dataclass(frozen=True)
class GradientReview:
    """What the data scientist decided about one gradient, as recorded on the contract.

    `computed_against` is the model version the gradient object names (the version the
    contract recorded for a refused one); `version` the model's version after it.
    """

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
            descent at the model's learning rate. It is code, not state, so it is not
            saved: a data scientist resuming from a state file must be given the same
            rule again (by default, gradient descent at the saved learning rate).
        fetch_timeout: seconds one fetch of a gradient (or, when resuming, of one of its
            own model versions) may take before it is retried later.
        state_file: where to keep the training state across restarts (mode 0600: it holds
            the plaintext weights); None keeps it in memory only. If the file exists, the
            data scientist resumes: `state` is restored, every version's encrypted model
            fetched from `ipfs` (where they are pinned), `resumed` is True, and
            `post_model` raises `ModelAlreadyPosted`.

    Raises:
        StateFileError: the state file cannot be read, is not a state file, is another
            chain's, contract's, account's or key's, or disagrees with the chain.
        TransactionInFlight: the state file holds a pending post or batch and a
            transaction from the account still waits to be mined.
        IpfsTimeout, IpfsUnavailable: a saved version could not be fetched from `ipfs`.
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
        state_file: Path | None = None,
    ) -> None:
        if repository.account is None:
            raise ValueError("the data scientist's repository needs an account to send from")
        self.repository = repository
        self.ipfs = ipfs
        self.keys = keys
        self.validation = validation
        self.update_rule = update_rule
        self.fetch_timeout = fetch_timeout
        self.state_file = state_file
        self.state: TrainingState | None = None
        self.resumed = False
        """Whether `state` was restored from the state file rather than posted by this object."""
        self.received = 0
        """Gradients submitted for the model so far."""
        self._events = repository.events(next_block=repository.w3.eth.block_number)
        # Gradients read from the events and not recorded on the contract yet: the saved
        # cursor stays at the earliest of them.
        self._unrecorded: dict[int, GradientAdded] = {}
        # Gradient events in blocks below this may have been evaluated by an earlier run
        # (read again after a restart): their status on the contract is checked first.
        self._recheck_below = 0
        # What the state file holds (None: no state file, or nothing written yet).
        self._saved: SavedState | None = None
        self._identity = (
            None
            if state_file is None
            else StateIdentity(
                chain_id=repository.w3.eth.chain_id,
                contract=repository.address,
                account=repository.account.address,
                key_fingerprint=key_fingerprint(keys.public_key),
            )
        )
        self._inbox = GradientInbox(
            ipfs.api, fetch_timeout=fetch_timeout, max_bytes=MAX_GRADIENT_BYTES
        )
        self._pool = ObfuscationPool(keys.public_key)
        self._stop_filling = threading.Event()
        self._filler: threading.Thread | None = None
        if state_file is not None and state_file.exists():
            try:
                self._resume(state_file)
            except BaseException:
                self.shutdown()
                raise

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

        With a state file, the model about to be posted is saved before the transaction is
        sent, so that a crash before its result is saved neither loses the model nor posts
        (and pays the bounty of) a second one.

        Raises:
            ModelAlreadyPosted: a model is posted already (e.g. resumed from the state file).
            ValueError: the target is not below the initial error.
            WeightOutOfBound, NonFiniteInput: see `encrypt_model`.
            ContractRevert: the contract refused the model (e.g. InvalidBounty).
        """
        if self.state is None and self._saved is not None and self._saved.pending is not None:
            self._settle()  # an earlier post failed without saying whether it was mined
        if self.state is not None:
            raise ModelAlreadyPosted(self.state.model_id)
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
        self._save(
            PendingPost(
                weights=weights,
                cid=cid,
                initial_error=initial_error,
                target_error=target_error,
                learning_rate=encrypted.learning_rate,
                weight_bound=encrypted.weight_bound,
                sent_after_block=self.repository.w3.eth.block_number,
            )
        )
        try:
            added = self.repository.add_model(
                cid_to_digest(cid),
                initial_error=initial_error,
                target_error=target_error,
                bounty=bounty,
            )
        except (ContractRevert, TransactionReverted):
            self._save(None)  # refused before sending, or reverted: the chain is unchanged
            raise
        first = ModelVersion(0, weights, encrypted, cid, initial_error)
        self.state = TrainingState(
            model_id=ModelId(added.model_id),
            target_error=target_error,
            current=first,
            versions=MappingProxyType({0: first}),
        )
        self._save(None)
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
        events = [
            event
            for event in self._events.poll()
            if isinstance(event, GradientAdded)
            and event.model_id == state.model_id
            and not self._evaluated_before(event)
        ]
        self._unrecorded.update((event.gradient_id, event) for event in events)
        self.received += len(events)
        return events

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
            (review,) = self._evaluate_batch([Fetched(event, None, refused)])
            return review
        (review,) = self._evaluate_batch([Fetched(event, data)])
        return review

    def evaluate_new(self, *, wait_seconds: float | None = None) -> list[GradientReview]:
        """Evaluates the gradients that have arrived, in chain order, in one transaction.

        New gradients are fetched concurrently; this waits at most `wait_seconds` (by
        default the fetch timeout) for fetches in flight, and evaluates every gradient that
        was fetched or refused by then. The others stay pending, fetched again later with
        backoff, and are evaluated by a later call.
        """
        self._inbox.add(self.new_gradients())
        wait = self.fetch_timeout + 1 if wait_seconds is None else wait_seconds
        return self._evaluate_batch(self._inbox.collect(wait_seconds=wait))

    def evaluate_round(
        self,
        *,
        gradients: int,
        timeout: float,
        first: int = 0,
        on_arrival: Callable[[int], None] | None = None,
    ) -> list[GradientReview]:
        """Waits for a round's gradients, then evaluates them in a canonical order.

        A round is the gradients computed against the current version. This waits until
        `gradients` of them have been fetched (or `timeout` seconds), then evaluates
        everything fetched, the round and any older stragglers, in one transaction, ordered
        by submitter address starting from the `first`-th (rotate it from round to round so
        that no mine always goes first). Since the whole round moves the model in one
        transaction, mines never see the versions in between: when every mine answers each
        round, the rounds, and so the weights and the payouts, are the same on every run.
        The timeout is the longest the data scientist waits for a slow or dead mine, not a
        pace: a round cut short by it is evaluated without the mines still computing.

        `on_arrival`, if given, is called with the number of the round's gradients fetched
        so far each time it grows: a long wait shows its progress.
        """
        state = self._posted()
        deadline = time.monotonic() + timeout
        fetched: list[Fetched] = []
        reported = 0
        while True:
            self._inbox.add(self.new_gradients())
            remaining = deadline - time.monotonic()
            fetched += self._inbox.collect(wait_seconds=min(max(remaining, 0), 0.25))
            current = sum(1 for f in fetched if f.event.version == state.version)
            if on_arrival is not None and current > reported:
                reported = current
                on_arrival(current)
            if current >= gradients or remaining <= 0:
                break
            if not fetched and len(self._inbox) == 0:
                time.sleep(min(0.05, max(remaining, 0)))  # nothing submitted yet
        submitters = sorted({f.event.submitter.lower() for f in fetched})
        if submitters:
            start = first % len(submitters)
            rank = {a: (i - start) % len(submitters) for i, a in enumerate(submitters)}
            fetched.sort(key=lambda f: (rank[f.event.submitter.lower()], f.event.gradient_id))
        return self._evaluate_batch(fetched)

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> ModelClosed:
        """Closes the model; the unspent bounty is credited to the data scientist."""
        return self.repository.close_model(self._posted().model_id)

    def withdraw(self) -> Withdrawn:
        """Takes the refunds credited to the data scientist."""
        return self.repository.withdraw()

    # -- internals ---------------------------------------------------------------------------

    def _posted(self) -> TrainingState:
        if self._saved is not None and self._saved.pending is not None:
            # An earlier post or batch failed without saying whether it was mined (e.g. its
            # receipt never came): find out before building on the state in memory.
            self._settle()
        if self.state is None:
            raise PySonarError("no model posted yet: call post_model first")
        return self.state

    def _read(self, event: GradientAdded, data: bytes) -> EncryptedGradient:
        """Reads a gradient against the version it names, which may be older than the one
        the contract recorded: a mine reads version v, and the model may move on before
        its transaction is mined (then recorded against a later version)."""
        state = self._posted()
        published = {
            number: version.encrypted
            for number, version in state.versions.items()
            if number <= event.version
        }
        return read_gradient(data, model=published, model_id=state.model_id)

    def _evaluate_batch(self, fetched: list[Fetched]) -> list[GradientReview]:
        """Scores `fetched` in order, each against the weights the ones before it left, and
        records them all in one transaction; refusals are recorded unpaid with the reason.

        A gradient the contract reports as evaluated already (by an earlier run) is dropped
        and the rest scored again. If the data scientist's own IPFS node fails while storing
        new weights, nothing is recorded and every gradient goes back to the inbox.
        """
        state = self._posted()
        while fetched:
            decisions = self._decide(state, fetched)
            try:
                return self._record(state, decisions)
            except GradientAlreadyEvaluated as evaluated:
                logger.warning("gradient %d was evaluated already", evaluated.gradient_id)
                self._unrecorded.pop(evaluated.gradient_id, None)
                fetched = [f for f in fetched if f.event.gradient_id != evaluated.gradient_id]
            except (IpfsTimeout, IpfsUnavailable) as error:
                for item in fetched:
                    self._inbox.retry_later(item.event, error)
                return []
        return []

    def _decide(self, state: TrainingState, fetched: list[Fetched]) -> list[_Decision]:
        """What to record for each gradient, in order, up to the first that reaches the target."""
        weights, best, version = state.weights, state.best_error, state.version
        decisions: list[_Decision] = []
        for item in fetched:
            try:
                if item.refusal is not None:
                    raise item.refusal
                assert item.data is not None and self.update_rule is not None
                gradient = self._read(item.event, item.data)
                step = decrypt_gradient(gradient, self.keys.private_key)
                candidate = self.update_rule.step(
                    weights, step, state.versions[gradient.model_version].weights
                )
                error = mse_to_contract(self.validation_mse(candidate))
                if error >= best:
                    decisions.append(_Decision(item.event, best, gradient.model_version))
                    continue
                encrypted = encrypt_model(
                    candidate,
                    self.keys.public_key,
                    weight_bound=state.encrypted.weight_bound,
                    learning_rate=state.encrypted.learning_rate,
                    model_version=version + 1,
                    pool=self._pool,
                )
            except PySonarError as refused:
                logger.warning(
                    "refusing gradient %d from %s (%s): %s",
                    item.event.gradient_id,
                    item.event.submitter,
                    digest_to_cid(item.event.gradient),
                    refused,
                )
                decisions.append(
                    _Decision(item.event, best, item.event.version, rejected=str(refused))
                )
                continue
            weights, best, version = candidate, error, version + 1
            decisions.append(
                _Decision(
                    item.event, error, gradient.model_version, improved=(candidate, encrypted)
                )
            )
            if error <= state.target_error:
                break  # the model closes: the contract takes nothing after this one
        return decisions

    def _record(self, state: TrainingState, decisions: list[_Decision]) -> list[GradientReview]:
        """Publishes the improved weights and records every decision in one transaction.

        With a state file, the versions the batch creates are saved before it is sent and
        the new state once it is mined; see the module docstring for a crash in between.
        """
        cids: list[Cid] = []
        current = state.weights_cid
        for decision in decisions:
            if decision.improved is not None:
                current = self.ipfs.add(write_model(decision.improved[1]), pin=True)
            cids.append(current)
        # Only the owner moves the model's version: each improvement is the next one.
        new_versions: list[SavedVersion] = []
        for decision, cid in zip(decisions, cids):
            if decision.improved is not None:
                number = state.version + 1 + len(new_versions)
                new_versions.append(SavedVersion(number, decision.improved[0], cid, decision.error))
        self._save(
            PendingBatch(
                versions=tuple(new_versions),
                gradient_ids=tuple(d.event.gradient_id for d in decisions),
            )
        )
        try:
            batch = self.repository.eval_gradients(
                state.model_id,
                [
                    (d.event.gradient_id, d.error, cid_to_digest(cid))
                    for d, cid in zip(decisions, cids)
                ],
            )
        except (ContractRevert, TransactionReverted):
            self._save(None)  # refused before sending, or reverted: the chain is unchanged
            raise
        versions = dict(state.versions)
        latest = state.current
        reviews = []
        for decision, cid, evaluated in zip(decisions, cids, batch.evaluated):
            if decision.improved is not None:
                latest = ModelVersion(
                    evaluated.version,
                    decision.improved[0],
                    decision.improved[1],
                    cid,
                    decision.error,
                )
                versions[latest.version] = latest
            logger.info(
                "gradient %d from %s (against version %d): MSE %.1f, %s, paid %d wei",
                decision.event.gradient_id,
                decision.event.submitter,
                decision.event.version,
                contract_to_mse(decision.error),
                "improved" if decision.improved is not None else decision.rejected or "no gain",
                evaluated.payout,
            )
            reviews.append(
                GradientReview(
                    gradient_id=decision.event.gradient_id,
                    submitter=decision.event.submitter,
                    gradient_cid=digest_to_cid(decision.event.gradient),
                    computed_against=decision.computed_against,
                    error=decision.error,
                    improved=decision.improved is not None,
                    payout=evaluated.payout,
                    weights_cid=cid,
                    version=evaluated.version,
                    closed=False,
                    rejected=decision.rejected,
                )
            )
        for evaluated in batch.evaluated:
            self._unrecorded.pop(evaluated.gradient_id, None)
        if batch.closed is not None:
            reviews[-1] = replace(reviews[-1], closed=True)
            # The contract takes nothing more for a closed model: nothing is left to record.
            self._unrecorded.clear()
        self.state = replace(state, current=latest, versions=MappingProxyType(versions))
        self._save(None)
        return reviews

    # -- the state file ----------------------------------------------------------------------

    def _save(self, pending: PendingPost | PendingBatch | None) -> None:
        """Writes the training state, with the transaction about to be sent if any."""
        if self.state_file is None or self._identity is None:
            return
        saved = SavedState(
            identity=self._identity,
            model=None if self.state is None else _saved_model(self.state),
            cursor=min(
                (event.position.block_number for event in self._unrecorded.values()),
                default=self._events.next_block,
            ),
            pending=pending,
        )
        save_state(saved, self.state_file)
        self._saved = saved

    def _resume(self, path: Path) -> None:
        assert self._identity is not None
        saved = load_state(path)
        check_identity(saved, self._identity, path)
        self._saved = saved
        self._settle()
        self.resumed = self.state is not None
        if self.state is not None:
            logger.info(
                "resumed model %d at version %d (MSE %.1f) from %s; gradients from block %d on",
                self.state.model_id,
                self.state.version,
                self.state.best_mse,
                path,
                self._events.next_block,
            )

    def _settle(self) -> None:
        """Brings the saved state in line with the chain, then makes it the state in memory.

        A pending post is adopted if its ModelAdded event is on the chain, and dropped if
        not; a pending batch's versions are applied if the model on the chain is at its
        last version, and dropped if the model is still at the saved one. Either way the
        gradient events are read again from the saved cursor, skipping the gradients the
        contract shows evaluated.

        Raises:
            StateFileError: the model on the chain is at neither (the file is older than
                the chain, or another run's).
            TransactionInFlight: a transaction from the account waits to be mined.
        """
        assert self._saved is not None and self.state_file is not None
        assert self.repository.account is not None
        saved = self._saved
        model, cursor, pending = saved.model, saved.cursor, saved.pending
        if pending is not None:
            self._check_nothing_in_flight()
        if isinstance(pending, PendingPost):
            added = self._find_model_added(pending)
            if added is None:
                logger.warning(
                    "the model saved as about to be posted is not on the chain: post it again"
                )
            else:
                logger.warning(
                    "model %d was posted before the restart: adopting it", added.model_id
                )
                first = SavedVersion(0, pending.weights, pending.cid, pending.initial_error)
                model = SavedModel(
                    model_id=added.model_id,
                    target_error=pending.target_error,
                    learning_rate=pending.learning_rate,
                    weight_bound=pending.weight_bound,
                    versions=(first,),
                )
                cursor = added.position.block_number
        closed = False
        if model is not None:
            on_chain = self.repository.get_model(model.model_id)
            if isinstance(pending, PendingBatch) and pending.versions:
                last = pending.versions[-1]
                if (on_chain.version, bytes(on_chain.weights)) == (
                    last.version,
                    cid_to_digest(last.cid),
                ):
                    logger.warning(
                        "the batch of %d gradient(s) sent before the restart was recorded: "
                        "model %d is at version %d",
                        len(pending.gradient_ids),
                        model.model_id,
                        last.version,
                    )
                    model = replace(model, versions=model.versions + pending.versions)
            current = model.current
            if (on_chain.version, bytes(on_chain.weights)) != (
                current.version,
                cid_to_digest(current.cid),
            ) or on_chain.owner.lower() != self.repository.account.address.lower():
                raise StateFileError(
                    self.state_file,
                    f"model {model.model_id} on the chain is at version {on_chain.version} "
                    f"({digest_to_cid(on_chain.weights)}, owner {on_chain.owner}), the file at "
                    f"version {current.version} ({current.cid}): the file is not this model's "
                    "latest state (restored from a backup? written by another run?)",
                )
            closed = on_chain.closed
        known = {} if self.state is None else dict(self.state.versions)
        self.state = None if model is None else self._restore(model, known)
        head = self.repository.w3.eth.block_number
        # A closed model takes no more evaluations: none of its events need reading again.
        self._events.next_block = head + 1 if closed else cursor
        self._recheck_below = head + 1
        self._unrecorded.clear()
        if self.state is not None:
            if self.update_rule is None:
                self.update_rule = GradientDescent(self.state.encrypted.learning_rate)
            if self._filler is None:
                self._start_precomputing(len(self.state.weights))
        self._save(None)

    def _restore(self, model: SavedModel, known: Mapping[int, ModelVersion]) -> TrainingState:
        """The training state of `model`, with each version's encrypted model fetched from
        the data scientist's own node (unless `known` holds it) and checked against the key
        and the saved version, weight bound and learning rate."""
        assert self.state_file is not None
        key_bits = self.keys.public_key.n.bit_length()
        versions: dict[int, ModelVersion] = {}
        for saved in model.versions:
            held = known.get(saved.version)
            if held is not None and held.cid == saved.cid:
                versions[saved.version] = held
                continue
            data = self.ipfs.cat(saved.cid, timeout=self.fetch_timeout, max_bytes=MAX_MODEL_BYTES)
            try:
                encrypted = read_model(data, accepted_key_bits=(key_bits,))
            except (InvalidObject, MismatchError) as error:
                raise StateFileError(
                    self.state_file, f"version {saved.version}'s model {saved.cid}: {error}"
                ) from error
            expected = (
                self.keys.public_key.n,
                saved.version,
                model.weight_bound,
                model.learning_rate,
                len(saved.weights) - 1,
            )
            found = (
                encrypted.public_key.n,
                encrypted.model_version,
                encrypted.weight_bound,
                encrypted.learning_rate,
                encrypted.feature_count,
            )
            if found != expected:
                raise StateFileError(
                    self.state_file,
                    f"version {saved.version}'s model {saved.cid} is not the one saved: its "
                    "key, version, weight bound, learning rate or feature count differ",
                )
            versions[saved.version] = ModelVersion(
                saved.version, saved.weights, encrypted, saved.cid, saved.error
            )
        return TrainingState(
            model_id=model.model_id,
            target_error=model.target_error,
            current=versions[model.current.version],
            versions=MappingProxyType(versions),
        )

    def _find_model_added(self, pending: PendingPost) -> ModelAdded | None:
        """The ModelAdded event of the pending post, if it was mined."""
        assert self.repository.account is not None
        owner = self.repository.account.address.lower()
        digest = cid_to_digest(pending.cid)
        cursor = self.repository.events(next_block=pending.sent_after_block + 1)
        for event in cursor.poll_to_head():
            if (
                isinstance(event, ModelAdded)
                and event.owner.lower() == owner
                and bytes(event.weights) == digest
            ):
                return event
        return None

    def _check_nothing_in_flight(self) -> None:
        """Refuses to judge a pending transaction while the account has one unmined: it
        could still be mined after being judged lost."""
        assert self.repository.account is not None
        account = self.repository.account.address
        eth = self.repository.w3.eth
        waiting = eth.get_transaction_count(account, "pending") - eth.get_transaction_count(
            account, "latest"
        )
        if waiting > 0:
            raise TransactionInFlight(account, waiting)

    def _evaluated_before(self, event: GradientAdded) -> bool:
        """Whether a gradient read again after a restart was evaluated by an earlier run."""
        if event.position.block_number >= self._recheck_below:
            return False
        status = self.repository.get_gradient(event.gradient_id).status
        if status == GradientStatus.EVALUATED:
            logger.info("gradient %d was evaluated before the restart", event.gradient_id)
            return True
        return False

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


def _saved_model(state: TrainingState) -> SavedModel:
    return SavedModel(
        model_id=state.model_id,
        target_error=state.target_error,
        learning_rate=state.encrypted.learning_rate,
        weight_bound=state.encrypted.weight_bound,
        versions=tuple(
            SavedVersion(v.version, v.weights, v.cid, v.error)
            for _, v in sorted(state.versions.items())
        ),
    )
