"""The one retry helper of pysonar.ipfs: exponential backoff with jitter, bounded in tries and time.

Readiness polling and peer connections go through `call_with_retry`; nothing else in this
package loops on errors. Sleep, clock and randomness are parameters so tests never sleep.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_LOG = logging.getLogger("pysonar.ipfs")


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry.

    The n-th wait (n = 0, 1, ...) is drawn uniformly from
    [(1 - jitter) * d, d] with d = min(max_delay, initial_delay * multiplier**n), so parallel
    callers spread out. At least one of `max_tries` and `max_time` must be set.
    """

    initial_delay: float = 0.05
    multiplier: float = 2.0
    max_delay: float = 1.0
    jitter: float = 0.5
    max_tries: int | None = None
    max_time: float | None = None

    def __post_init__(self) -> None:
        if self.max_tries is None and self.max_time is None:
            raise ValueError("RetryPolicy needs max_tries or max_time, or it may retry forever")
        if self.max_tries is not None and self.max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {self.max_tries}")
        if self.max_time is not None and self.max_time <= 0:
            raise ValueError(f"max_time must be positive, got {self.max_time}")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")

    def delay(self, retry_number: int, draw: float) -> float:
        """The wait before retry `retry_number` (0-based), given a uniform draw in [0, 1)."""
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier**retry_number)
        return ceiling * (1 - self.jitter * draw)


@dataclass(frozen=True)
class RetryAttempt:
    """What `on_retry` hooks see: a failed try and the wait before the next one."""

    tries: int
    elapsed: float
    wait: float
    error: BaseException


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    retry_on: tuple[type[BaseException], ...],
    give_up: Callable[[BaseException], bool] = lambda error: False,
    on_retry: Callable[[RetryAttempt], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    draw: Callable[[], float] = random.random,
) -> T:
    """Calls `fn` until it returns, retrying the errors in `retry_on`.

    Parameters:
        fn: the operation; it must be safe to repeat.
        policy: backoff and limits.
        retry_on: exception types worth another try; anything else propagates at once.
        give_up: says that an error of a retried type is fatal after all.
        on_retry: called before each wait (the default logs at DEBUG).
        sleep, clock, draw: injectable for tests (time.sleep, time.monotonic, random.random).

    Returns:
        What `fn` returned.

    Raises:
        The last error of `fn`, with a note saying how many tries and how long were spent,
        once `max_tries` tries were made or the next try would start after `max_time`. The
        last wait is shortened so that a final try happens at the deadline.
    """
    start = clock()
    tries = 0
    while True:
        tries += 1
        try:
            return fn()
        except retry_on as error:
            if give_up(error):
                raise
            elapsed = clock() - start
            wait = policy.delay(tries - 1, draw())
            out_of_tries = policy.max_tries is not None and tries >= policy.max_tries
            if policy.max_time is not None:
                remaining = policy.max_time - elapsed
                out_of_time = remaining <= 0
                wait = min(wait, max(remaining, 0.0))
            else:
                out_of_time = False
            if out_of_tries or out_of_time:
                error.add_note(f"gave up after {tries} tries in {elapsed:.2f} s")
                raise
            attempt = RetryAttempt(tries=tries, elapsed=elapsed, wait=wait, error=error)
            if on_retry is None:
                _LOG.debug(
                    "try %d failed after %.2f s, retrying in %.3f s: %r",
                    tries,
                    elapsed,
                    wait,
                    error,
                )
            else:
                on_retry(attempt)
            sleep(wait)
