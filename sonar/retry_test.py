"""Tests of the retry helper: backoff, bounds, fatal errors and logging, with a fake clock."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import tenacity

from sonar.retry import Backoff, retry_call


class FakeTime:
    """A monotonic clock that only moves when `sleep` is called: tests never wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    # tenacity reads the time through its module's `time`; so does retry_call's note.
    monkeypatch.setattr(tenacity, "time", fake)
    monkeypatch.setattr("sonar.retry.time", fake)
    return fake


def failing(times: int, error: BaseException, result: str = "done") -> Callable[[], str]:
    """A function that raises `error` on its first `times` calls, then returns `result`."""
    calls = iter(range(times + 1))

    def call() -> str:
        if next(calls) < times:
            raise error
        return result

    return call


def test_returns_the_first_success_without_waiting(clock: FakeTime) -> None:
    assert retry_call(lambda: 42, retry_on=(OSError,), max_tries=3, sleep=clock.sleep) == 42
    assert clock.sleeps == []


def test_retries_a_listed_error_until_the_call_succeeds(clock: FakeTime) -> None:
    call = failing(4, ConnectionError("refused"))
    assert retry_call(call, retry_on=(ConnectionError,), max_tries=10, sleep=clock.sleep) == "done"
    assert len(clock.sleeps) == 4


def test_each_wait_is_at_most_the_exponential_ceiling_and_never_above_the_maximum(
    clock: FakeTime,
) -> None:
    backoff = Backoff(initial=0.1, maximum=0.5)
    call = failing(8, ConnectionError("refused"))
    retry_call(call, retry_on=(ConnectionError,), backoff=backoff, max_tries=9, sleep=clock.sleep)
    ceilings = [min(0.5, 0.1 * 2**n) for n in range(8)]
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(clock.sleeps, ceilings))


def test_delays_for_self_scheduled_retries_follow_the_same_ceilings() -> None:
    backoff = Backoff(initial=1.0, maximum=30.0)
    for retry_number, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (40, 30.0)]:
        draws = [backoff.delay(retry_number) for _ in range(200)]
        assert all(0 <= draw <= ceiling for draw in draws)
        assert max(draws) > ceiling / 2, "jitter draws spread over the whole range"
    with pytest.raises(ValueError, match="retry numbers start at 1"):
        backoff.delay(0)


def test_gives_up_after_max_tries_with_the_last_error_and_a_note(clock: FakeTime) -> None:
    errors = iter([OSError("first"), OSError("second"), OSError("third")])

    def call() -> None:
        raise next(errors)

    with pytest.raises(OSError, match="third") as raised:
        retry_call(call, retry_on=(OSError,), max_tries=3, sleep=clock.sleep)
    assert any("gave up after 3 tries" in note for note in raised.value.__notes__)


def test_gives_up_once_the_next_try_would_start_after_max_time(clock: FakeTime) -> None:
    backoff = Backoff(initial=1.0, maximum=1.0)
    tries: list[float] = []

    def call() -> None:
        tries.append(clock.now)
        raise TimeoutError("not yet")

    with pytest.raises(TimeoutError):
        retry_call(call, retry_on=(TimeoutError,), backoff=backoff, max_time=5, sleep=clock.sleep)
    assert tries[-1] - tries[0] <= 5


def test_an_error_it_was_not_told_to_retry_propagates_at_once(clock: FakeTime) -> None:
    with pytest.raises(KeyError):
        retry_call(failing(1, KeyError("x")), retry_on=(OSError,), max_tries=5, sleep=clock.sleep)
    assert clock.sleeps == []


def test_give_up_makes_a_retried_error_fatal_at_once(clock: FakeTime) -> None:
    fatal = PermissionError("denied")
    with pytest.raises(PermissionError):
        retry_call(
            failing(3, fatal),
            retry_on=(OSError,),
            give_up=lambda error: isinstance(error, PermissionError),
            max_tries=5,
            sleep=clock.sleep,
        )
    assert clock.sleeps == []


def test_without_bounds_it_retries_until_success(clock: FakeTime) -> None:
    call = failing(50, ConnectionError("down"))
    assert retry_call(call, retry_on=(ConnectionError,), sleep=clock.sleep) == "done"
    assert len(clock.sleeps) == 50


def test_each_wait_is_logged_in_one_line_naming_what_is_awaited(
    clock: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sonar.retry")
    retry_call(
        failing(2, ConnectionError("connection refused")),
        retry_on=(ConnectionError,),
        max_tries=5,
        waiting_for="the chain at http://127.0.0.1:8545",
        sleep=clock.sleep,
    )
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith(
        "waiting for the chain at http://127.0.0.1:8545 (ConnectionError: connection refused); "
        "try 2 in "
    )
    assert all("\n" not in line for line in lines)


@pytest.mark.parametrize(("initial", "maximum"), [(0, 1), (2, 1), (-1, 1)])
def test_a_nonsensical_backoff_is_refused(initial: float, maximum: float) -> None:
    with pytest.raises(ValueError):
        Backoff(initial=initial, maximum=maximum)
