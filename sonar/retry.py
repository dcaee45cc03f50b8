"""Retries with exponential backoff and full jitter: the one retry helper every component uses.

It is tenacity (https://tenacity.readthedocs.io), configured one way: waits drawn uniformly
from [0, min(maximum, initial * 2**(n - 1))] before the n-th retry (AWS's "full jitter", so
that processes retrying the same server spread out), a bound in time or tries, a predicate
for errors that are fatal after all, and one log line per wait that says what is awaited.
Readiness probes (the process supervisor, IPFS nodes), reconnects (the mine daemon) and the
data scientist's pending gradients all take their waits from `Backoff`.

Retry only what is safe to repeat: a read, an idempotent write, a transaction whose effect
is checked before it is sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

T = TypeVar("T")

_LOG = logging.getLogger("sonar.retry")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter.

    Attributes:
        initial: the ceiling of the first wait, in seconds.
        maximum: the ceiling no wait exceeds, in seconds.
    """

    initial: float = 0.05
    maximum: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"need 0 < initial <= maximum, not {self.initial}, {self.maximum}")

    def strategy(self) -> tenacity.wait.wait_base:
        """The tenacity wait strategy of this backoff."""
        return tenacity.wait_random_exponential(multiplier=self.initial, max=self.maximum)

    def delay(self, retry_number: int) -> float:
        """A wait drawn for the `retry_number`-th retry (1 for the first), in seconds.

        For callers that schedule retries themselves instead of looping in `retry_call`.
        """
        if retry_number < 1:
            raise ValueError(f"retry numbers start at 1, not {retry_number}")
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
        state.attempt_number = retry_number
        return self.strategy()(state)


DEFAULT_BACKOFF = Backoff()


def retry_call(
    fn: Callable[[], T],
    *,
    retry_on: tuple[type[BaseException], ...],
    backoff: Backoff = DEFAULT_BACKOFF,
    max_time: float | None = None,
    max_tries: int | None = None,
    give_up: Callable[[BaseException], bool] = lambda error: False,
    waiting_for: str | Callable[[BaseException], str] | None = None,
    on_wait: Callable[[BaseException, float], None] | None = None,
    logger: logging.Logger = _LOG,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Calls `fn` until it returns, retrying the errors in `retry_on`.

    Parameters:
        fn: the operation; it must be safe to repeat.
        retry_on: exception types worth another try; anything else propagates at once.
        backoff: how long to wait between tries.
        max_time: seconds after the first try by which the last try starts; None: no bound.
        max_tries: the most tries; None: no bound. With neither bound it retries until
            `fn` succeeds or raises a fatal error (a daemon waiting for its server).
        give_up: says that an error of a retried type is fatal after all.
        waiting_for: what a failed try means we are waiting for ("the chain at ..."), or a
            function naming it from the error: each wait is logged at INFO in one line
            naming it; None logs each wait at DEBUG.
        on_wait: called with the error and the wait, before each wait.
        logger: where waits are logged.
        sleep: the wait itself (an Event's `wait` makes it interruptible; tests pass a fake).

    Returns:
        What `fn` returned.

    Raises:
        The last error of `fn`, with a note saying how many tries and how long were spent,
        once a bound is reached; a fatal error at once.
    """
    stops: list[tenacity.stop.stop_base] = []
    if max_time is not None:
        # Before, not after: the last try starts within max_time instead of after it.
        stops.append(tenacity.stop_before_delay(max_time))
    if max_tries is not None:
        stops.append(tenacity.stop_after_attempt(max_tries))

    def log_wait(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        error = state.outcome.exception()
        assert error is not None
        if waiting_for is None:
            logger.debug(
                "try %d failed, retrying in %.2f s: %r",
                state.attempt_number,
                state.next_action.sleep,
                error,
            )
        else:
            logger.info(
                "waiting for %s (%s: %s); try %d in %.1f s",
                waiting_for if isinstance(waiting_for, str) else waiting_for(error),
                type(error).__name__,
                error,
                state.attempt_number + 1,
                state.next_action.sleep,
            )
        # After the log line: whoever on_wait tells that we wait can find it logged.
        if on_wait is not None:
            on_wait(error, state.next_action.sleep)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(
            lambda error: isinstance(error, retry_on) and not give_up(error)
        ),
        wait=backoff.strategy(),
        stop=tenacity.stop_any(*stops) if stops else tenacity.stop_never,
        before_sleep=log_wait,
        sleep=sleep,
        reraise=True,
    )
    started = time.monotonic()
    tries = 0
    try:
        for attempt in retrying:
            with attempt:
                tries += 1
                return fn()
    except retry_on as error:
        if not give_up(error) and (max_time is not None or max_tries is not None):
            error.add_note(f"gave up after {tries} tries in {time.monotonic() - started:.2f} s")
        raise
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
