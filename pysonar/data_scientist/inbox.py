"""Gradients waiting to be evaluated: fetched from IPFS concurrently, retried with backoff.

Every `GradientAdded` event goes into the inbox. `collect` starts a fetch, on a pool of
threads with one IPFS client each, for every gradient whose turn has come, waits a bounded
time, and hands back those that finished, in chain order:

- fetched: the object's bytes, to be read and evaluated;
- refused by IPFS for good (larger than the gradient format allows, not a file): the
  refusal, to be recorded on the contract as the reason for not paying;
- not available (no connected node serves it yet, or the data scientist's own node is
  down): kept, and fetched again after a backoff that grows to `max_backoff`.

Because fetches run concurrently, ten CIDs that nobody serves cost one fetch timeout in
the background, not ten in a row, and never hold up the gradients that did arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from pysonar.errors import InvalidObject
from pysonar.ipfs import IpfsClient, IpfsRequestError, IpfsTimeout, IpfsUnavailable, digest_to_cid
from sonar.client import GradientAdded
from sonar.retry import Backoff

_LOG = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
# A gradient nobody serves is fetched again after at most this long.
DEFAULT_BACKOFF = Backoff(initial=0.5, maximum=30.0)

# A fetch that fails with these is retried later; other IPFS refusals are final.
TRANSIENT = (IpfsTimeout, IpfsUnavailable)
REFUSED = (InvalidObject, IpfsRequestError)


@dataclass(frozen=True)
class Fetched:
    """A gradient whose fetch has ended for good: its bytes, or why IPFS refused it."""

    event: GradientAdded
    data: bytes | None
    refusal: Exception | None = None


@dataclass
class _Waiting:
    event: GradientAdded
    failures: int = 0
    due: float = 0.0
    future: Future[bytes] | None = None
    last_error: Exception | None = field(default=None, repr=False)


class GradientInbox:
    """The gradients of one model not evaluated yet.

    Parameters:
        api: the data scientist's IPFS API multiaddr (each worker opens its own client).
        fetch_timeout: seconds one fetch may take.
        max_bytes: the largest object accepted (the gradient format's maximum).
        backoff: the wait before fetching an unavailable gradient again.
        workers: concurrent fetches.
        clock: monotonic time, injectable for tests.
    """

    def __init__(
        self,
        api: str,
        *,
        fetch_timeout: float,
        max_bytes: int,
        backoff: Backoff = DEFAULT_BACKOFF,
        workers: int = DEFAULT_WORKERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._fetch_timeout = fetch_timeout
        self._max_bytes = max_bytes
        self._backoff = backoff
        self._clock = clock
        self._waiting: dict[int, _Waiting] = {}
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="gradient-fetch")
        self._local = threading.local()
        self._clients: list[IpfsClient] = []
        self._clients_lock = threading.Lock()

    def __len__(self) -> int:
        """How many gradients are waiting (being fetched, or to be fetched again)."""
        return len(self._waiting)

    def add(self, events: Iterable[GradientAdded]) -> None:
        """Takes new gradients in; each is fetched at the next `collect`."""
        for event in events:
            self._waiting.setdefault(event.gradient_id, _Waiting(event, due=self._clock()))

    def retry_later(self, event: GradientAdded, error: Exception) -> None:
        """Puts back a gradient whose evaluation failed for a reason outside it (e.g. the
        data scientist's own IPFS node was down while storing the new weights)."""
        waiting = _Waiting(event)
        self._reschedule(waiting, error)
        self._waiting[event.gradient_id] = waiting

    def collect(self, *, wait_seconds: float) -> list[Fetched]:
        """Starts the fetches that are due, and returns the fetches that ended, in chain order.

        Parameters:
            wait_seconds: the longest to wait for fetches in flight; it returns as soon as
                every one has ended, or at once if none is in flight.
        """
        now = self._clock()
        for waiting in self._waiting.values():
            if waiting.future is None and waiting.due <= now:
                waiting.future = self._executor.submit(self._fetch, waiting.event)
        in_flight = [w.future for w in self._waiting.values() if w.future is not None]
        if in_flight and wait_seconds > 0:
            wait(in_flight, timeout=wait_seconds)
        finished: list[Fetched] = []
        for gradient_id, waiting in list(self._waiting.items()):
            future = waiting.future
            if future is None or not future.done():
                continue
            waiting.future = None
            error = future.exception()
            if error is None:
                finished.append(Fetched(waiting.event, future.result()))
            elif isinstance(error, TRANSIENT):
                self._reschedule(waiting, error)
                continue
            elif isinstance(error, REFUSED):
                finished.append(Fetched(waiting.event, None, error))
            else:
                raise error
            del self._waiting[gradient_id]
        finished.sort(key=lambda f: (f.event.position.block_number, f.event.position.log_index))
        return finished

    def close(self) -> None:
        """Stops the fetch threads and closes their IPFS clients."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def _reschedule(self, waiting: _Waiting, error: Exception) -> None:
        waiting.failures += 1
        delay = self._backoff.delay(waiting.failures)
        waiting.due = self._clock() + delay
        waiting.last_error = error
        _LOG.info(
            "gradient %d (%s) not available (%s); fetching again in %.1f s",
            waiting.event.gradient_id,
            digest_to_cid(waiting.event.gradient),
            error,
            delay,
        )

    def _fetch(self, event: GradientAdded) -> bytes:
        client = getattr(self._local, "client", None)
        if client is None:
            client = IpfsClient(self._api)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client.cat(
            digest_to_cid(event.gradient), timeout=self._fetch_timeout, max_bytes=self._max_bytes
        )
