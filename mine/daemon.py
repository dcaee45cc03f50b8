"""The mine's loop: follow the contract, answer each open model's version once, get paid.

Each turn of the loop (`Mine.step`):

1. reads the contract's events from the persisted cursor; `ModelAdded` and `ModelClosed`
   update the models followed, in the same transaction that moves the cursor;
2. for every open model, reads its current version from the contract; unless that version
   was answered or its object refused, it
   - waits for its own pending transactions, then asks the contract whether its gradient
     id for (model, version) exists already (a crash after sending, before recording);
   - fetches the encrypted model from its own IPFS node (deadline, size limit), reads it
     strictly (`pysonar.formats`), computes the encrypted gradient from its shard's
     sufficient statistics with precomputed re-randomising factors, pins the gradient on
     its node and submits its CID with `addGradient` from its own account;
3. withdraws its credit once a model it follows has closed.

The chain or the IPFS node being down is waited out, with jittered exponential backoff and
one log line per wait (`sonar.retry`); a model object that is not valid is skipped with
its reason and never fetched again, a new version of the model is tried afresh.
"""

from __future__ import annotations

import logging
import threading
import time

import requests
from eth_account.signers.local import LocalAccount
from phe.paillier import PaillierPublicKey
from web3 import Web3
from web3.exceptions import TimeExhausted, Web3RPCError

from mine.state import Answer, MineState
from mine.status import StatusFile
from pysonar.crypto.obfuscation import ObfuscationPool
from pysonar.errors import InvalidObject, MismatchError, OverflowRiskError, PySonarError
from pysonar.formats.codec import MAX_MODEL_BYTES, read_model, write_gradient
from pysonar.ipfs import (
    IpfsClient,
    IpfsRequestError,
    IpfsTimeout,
    IpfsUnavailable,
    cid_to_digest,
    digest_to_cid,
)
from pysonar.model.gradient import ShardStatistics, encrypted_gradient
from sonar.client import (
    GradientAlreadySubmitted,
    GradientNotFound,
    ModelAdded,
    ModelClosed,
    ModelId,
    ModelNotOpen,
    ModelRepository,
    ModelState,
    NothingToWithdraw,
    gradient_id_of,
)
from sonar.retry import Backoff, retry_call

logger = logging.getLogger("mine")

# What a mine waits out rather than fails on: the chain or its IPFS node down or slow.
CHAIN_DOWN = (requests.ConnectionError, requests.Timeout, TimeExhausted, Web3RPCError)
IPFS_DOWN = (IpfsUnavailable,)
OUTAGE_BACKOFF = Backoff(initial=0.2, maximum=5.0)
# A model object no node serves yet is fetched again after at most this long.
FETCH_BACKOFF = Backoff(initial=0.5, maximum=15.0)
# Re-randomising factors kept ready per key: two gradients' worth.
POOLED_GRADIENTS = 2


class Mine:
    """One data owner's daemon.

    Parameters:
        repository: the contract, signing as the mine's account.
        ipfs: the mine's own IPFS node.
        statistics: what the mine answers from: its rows' exact statistics, or one private
            release of them (`mine.release`); the rows themselves never leave the mine.
        state: the mine's persisted state.
        status: where its status line goes.
        fetch_timeout: seconds one model fetch may take.
        accepted_key_bits: key sizes of models to answer.
        stop: set to end `run` at the next wait.
    """

    def __init__(
        self,
        *,
        repository: ModelRepository,
        ipfs: IpfsClient,
        statistics: ShardStatistics,
        state: MineState,
        status: StatusFile,
        fetch_timeout: float,
        accepted_key_bits: tuple[int, ...],
        stop: threading.Event,
    ) -> None:
        assert repository.account is not None
        self.account: LocalAccount = repository.account
        self.repository = repository
        self.ipfs = ipfs
        self.statistics = statistics
        self.state = state
        self.status = status
        self.fetch_timeout = fetch_timeout
        self.accepted_key_bits = accepted_key_bits
        self.stop = stop
        self._cursor = repository.events(next_block=state.cursor)
        self._pools: dict[int, ObfuscationPool] = {}
        self._pools_lock = threading.Lock()
        self._unavailable: dict[tuple[int, int], tuple[int, float]] = {}
        self._filler = threading.Thread(target=self._fill_pools, name="obfuscation", daemon=True)

    @property
    def address(self) -> str:
        return self.account.address

    # -- the loop ------------------------------------------------------------------------------

    def run(self, *, poll_interval: float) -> None:
        """Runs until `stop` is set: one `step`, then a wait of `poll_interval` seconds.

        Outages of the chain or the IPFS node are waited out, however long they last.
        """
        self._filler.start()
        self.status.update(state="running")
        while not self.stop.is_set():
            retry_call(
                self.step,
                retry_on=CHAIN_DOWN + IPFS_DOWN,
                backoff=OUTAGE_BACKOFF,
                waiting_for=self._awaited,
                on_wait=lambda error, seconds: self.status.update(
                    state="waiting", waiting_for=self._awaited(error)
                ),
                logger=logger,
                sleep=self._wait_out,
            )
            self.stop.wait(poll_interval)

    def step(self) -> None:
        """One turn: handle new events, answer every open model, withdraw if due."""
        self._follow_events()
        for model_id in self.state.open_models():
            if self.stop.is_set():
                return
            self._answer(ModelId(model_id))
        if self.state.withdrawal_due:
            self._withdraw()
        answered, skipped = self.state.counts()
        self.status.update(
            state="running",
            waiting_for=None,
            block=self._cursor.next_block,
            open_models=len(self.state.open_models()),
            answered=answered,
            skipped=skipped,
        )

    def _awaited(self, error: BaseException) -> str:
        if isinstance(error, IPFS_DOWN):
            return f"the IPFS node at {self.ipfs.api}"
        return f"the chain at {self.repository.w3.provider.endpoint_uri}"  # type: ignore[attr-defined]

    def _wait_out(self, seconds: float) -> None:
        """The retry helper's sleep, ended early (raising Stopping) when asked to stop."""
        if self.stop.wait(seconds):
            raise Stopping

    # -- events --------------------------------------------------------------------------------

    def _follow_events(self) -> None:
        events = self._cursor.poll()
        opened = [e.model_id for e in events if isinstance(e, ModelAdded)]
        closed = [e.model_id for e in events if isinstance(e, ModelClosed)]
        self.state.advance(self._cursor.next_block, opened=opened, closed=closed)
        for model_id in opened:
            logger.info("model posted", extra={"model": model_id, "event": "model-posted"})
        for model_id in closed:
            logger.info("model closed", extra={"model": model_id, "event": "model-closed"})

    # -- answering -----------------------------------------------------------------------------

    def _answer(self, model_id: ModelId) -> None:
        model = self.repository.get_model(model_id)
        if model.closed:
            self.state.mark_closed(model_id)
            return
        version = model.version
        if self.state.answer(model_id, version) or self.state.skipped(model_id, version):
            return
        retry = self._unavailable.get((model_id, version))
        if retry is not None and time.monotonic() < retry[1]:
            return
        if self._already_submitted(model_id, version):
            return
        try:
            gradient_bytes = self._compute(model, version)
        except IpfsTimeout as error:
            self._not_yet_available(model_id, version, error)
            return
        except _Refused as refused:
            self.state.skip(model_id, version, str(refused))
            self._log(
                logging.WARNING,
                f"skipped the model object: {refused}",
                model_id,
                version,
                "skipped",
            )
            return
        self._submit(model_id, version, gradient_bytes)

    def _already_submitted(self, model_id: ModelId, version: int) -> bool:
        """Whether the contract has this mine's gradient for (model, version); records it."""
        self._wait_for_pending_transactions()
        gradient_id = gradient_id_of(model_id, version, self.address)
        try:
            self.repository.get_gradient(gradient_id)
        except GradientNotFound:
            return False
        self.state.record_answer(Answer(model_id, version, gradient_id, None, None))
        self._log(
            logging.WARNING,
            "found this mine's gradient on the contract already (sent before a restart)",
            model_id,
            version,
            "recovered",
        )
        return True

    def _wait_for_pending_transactions(self) -> None:
        """Waits until every transaction this account sent is mined, so that the contract's
        view of its gradients is complete."""
        eth = self.repository.w3.eth
        deadline = time.monotonic() + 120
        while eth.get_transaction_count(self.address, "pending") > eth.get_transaction_count(
            self.address, "latest"
        ):
            if time.monotonic() > deadline:
                raise TimeExhausted(f"transactions of {self.address} still pending after 120 s")
            self._wait_out(0.2)

    def _compute(self, model: ModelState, version: int) -> bytes:
        """The encrypted gradient object for `model` at `version`.

        Raises:
            IpfsTimeout: the model object could not be fetched in time.
            _Refused: the object is not a model this mine can answer.
        """
        cid = digest_to_cid(model.weights)
        try:
            data = self.ipfs.cat(cid, timeout=self.fetch_timeout, max_bytes=MAX_MODEL_BYTES)
            encrypted = read_model(data, accepted_key_bits=self.accepted_key_bits)
            if encrypted.model_version != version:
                raise MismatchError(
                    what="model version (object vs contract)",
                    expected=version,
                    found=encrypted.model_version,
                )
            gradient = encrypted_gradient(
                encrypted,
                self.statistics,
                model_id=model.model_id,
                pool=self._pool_for(encrypted.public_key),
            )
            return write_gradient(gradient)
        except (InvalidObject, MismatchError, IpfsRequestError, OverflowRiskError) as error:
            raise _Refused(f"{cid}: {error}") from error

    def _submit(self, model_id: ModelId, version: int, gradient_bytes: bytes) -> None:
        cid = self.ipfs.add(gradient_bytes, pin=True)
        try:
            added = self.repository.add_gradient(model_id, cid_to_digest(cid))
        except GradientAlreadySubmitted:
            # The model moved on while we computed, to a version we had answered already.
            return
        except ModelNotOpen:
            # It closed while we computed (its target was reached): nothing to answer.
            self.state.mark_closed(model_id)
            self._log(logging.INFO, "the model closed first", model_id, version, "too-late")
            return
        self.state.record_answer(
            Answer(model_id, added.version, added.gradient_id, cid, added.position.transaction_hash)
        )
        if added.version != version:
            # Registered against a newer version than it was computed for: the version it
            # answers (the object names it) counts as answered too.
            self.state.record_answer(Answer(model_id, version, added.gradient_id, cid, None))
        self._log(
            logging.INFO,
            f"submitted a gradient of {self.statistics.row_count} rows",
            model_id,
            version,
            "submitted",
            gradient=cid,
            contract_version=added.version,
        )
        self.status.update(last=f"submitted model {model_id} version {version}")

    def _not_yet_available(self, model_id: ModelId, version: int, error: IpfsTimeout) -> None:
        failures = self._unavailable.get((model_id, version), (0, 0.0))[0] + 1
        delay = FETCH_BACKOFF.delay(failures)
        self._unavailable[(model_id, version)] = (failures, time.monotonic() + delay)
        self._log(
            logging.INFO,
            f"waiting for the model object ({error}); fetching again in {delay:.1f} s",
            model_id,
            version,
            "model-unavailable",
        )

    # -- payment -------------------------------------------------------------------------------

    def _withdraw(self) -> None:
        try:
            withdrawn = self.repository.withdraw()
        except NothingToWithdraw:
            self.state.withdrawal_done()
            return
        self.state.withdrawal_done()
        logger.info(
            "withdrew %d wei",
            withdrawn.amount,
            extra={"event": "withdrew", "wei": withdrawn.amount},
        )

    # -- precomputation ------------------------------------------------------------------------

    def _pool_for(self, public_key: PaillierPublicKey) -> ObfuscationPool:
        with self._pools_lock:
            pool = self._pools.get(public_key.n)
            if pool is None:
                pool = self._pools[public_key.n] = ObfuscationPool(public_key)
            return pool

    def _fill_pools(self) -> None:
        """Keeps re-randomising factors ready for every key seen, while the mine is idle."""
        target = (self.statistics.feature_count + 1) * POOLED_GRADIENTS
        while not self.stop.wait(0.05):
            with self._pools_lock:
                pools = list(self._pools.values())
            for pool in pools:
                if len(pool) < target and not self.stop.is_set():
                    pool.fill(len(pool) + 1)

    # -- logging -------------------------------------------------------------------------------

    def _log(
        self, level: int, message: str, model_id: int, version: int, event: str, **fields: object
    ) -> None:
        logger.log(
            level, message, extra={"model": model_id, "version": version, "event": event, **fields}
        )


class _Refused(PySonarError):
    """A model object this mine will not answer; the message says why."""


class Stopping(BaseException):
    """Raised when the mine is asked to stop (out of a wait, or by the signal handler).

    A BaseException, so that no `except Exception` on the way swallows it; the mine's state
    is safe to leave at any point (see `mine.state`)."""


def connect_repository(rpc_url: str, account: LocalAccount, contract: str) -> ModelRepository:
    """The contract over HTTP, without web3's own retries: the mine has its own policy."""
    provider = Web3.HTTPProvider(
        rpc_url, request_kwargs={"timeout": 10}, exception_retry_configuration=None
    )
    return ModelRepository(Web3(provider), account, address=contract)
