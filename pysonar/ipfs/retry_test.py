"""Tests of the retry helper, on a fake clock: nothing here really sleeps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pysonar.ipfs.retry import RetryAttempt, RetryPolicy, call_with_retry


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, error: BaseException, result: str = "done") -> Callable[[], str]:
    """An operation that raises `error` on its first `times` calls, then returns `result`."""
    calls = {"n": 0}

    def operation() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return result

    operation.calls = calls  # type: ignore[attr-defined]
    return operation


def run(
    operation: Callable[[], str],
    policy: RetryPolicy,
    clock: FakeClock,
    *,
    draw: float = 0.0,
    **kwargs: object,
) -> str:
    return call_with_retry(
        operation,
        policy=policy,
        retry_on=(ConnectionError,),
        sleep=clock.sleep,
        clock=clock,
        draw=lambda: draw,
        **kwargs,  # type: ignore[arg-type]
    )


def test_returns_the_first_success_without_waiting() -> None:
    clock = FakeClock()
    assert run(failing(0, ConnectionError()), RetryPolicy(max_tries=3), clock) == "done"
    assert clock.sleeps == []


def test_waits_grow_exponentially_up_to_the_maximum_delay() -> None:
    clock = FakeClock()
    policy = RetryPolicy(initial_delay=0.1, multiplier=2, max_delay=0.5, jitter=0.5, max_tries=10)
    # draw=0 gives the top of the jitter range: the full exponential delay.
    assert run(failing(5, ConnectionError()), policy, clock, draw=0.0) == "done"
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_jitter_shortens_each_wait_by_at_most_its_fraction() -> None:
    policy = RetryPolicy(initial_delay=1.0, multiplier=2, max_delay=8, jitter=0.25, max_tries=5)
    assert policy.delay(2, 0.0) == pytest.approx(4.0)
    assert policy.delay(2, 0.999999) == pytest.approx(3.0, abs=1e-5)
    clock = FakeClock()
    run(failing(3, ConnectionError()), policy, clock, draw=0.5)
    assert clock.sleeps == pytest.approx([0.875, 1.75, 3.5])


def test_gives_up_after_max_tries_with_the_last_error_and_a_note() -> None:
    clock = FakeClock()
    last = ConnectionError("refused")
    operation = failing(10, last)
    with pytest.raises(ConnectionError) as raised:
        run(operation, RetryPolicy(initial_delay=0.1, max_tries=3), clock)
    assert raised.value is last
    assert operation.calls["n"] == 3  # type: ignore[attr-defined]
    assert len(clock.sleeps) == 2
    assert any("gave up after 3 tries" in note for note in raised.value.__notes__)


def test_gives_up_at_max_time_after_a_last_try_at_the_deadline() -> None:
    clock = FakeClock()
    policy = RetryPolicy(initial_delay=1.0, multiplier=2, max_delay=10, jitter=0, max_time=5.0)
    operation = failing(100, ConnectionError())
    with pytest.raises(ConnectionError):
        run(operation, policy, clock)
    # Waits 1, 2, then only the 2 s left (not 4), then one more try at t=5 and no wait.
    assert clock.sleeps == pytest.approx([1.0, 2.0, 2.0])
    assert operation.calls["n"] == 4  # type: ignore[attr-defined]
    assert clock.now == pytest.approx(105.0)


def test_does_not_retry_an_error_it_was_not_told_to_retry() -> None:
    clock = FakeClock()
    operation = failing(1, KeyError("bug"))
    with pytest.raises(KeyError):
        run(operation, RetryPolicy(max_tries=5), clock)
    assert operation.calls["n"] == 1  # type: ignore[attr-defined]
    assert clock.sleeps == []


def test_stops_at_once_when_give_up_calls_a_retried_error_fatal() -> None:
    clock = FakeClock()
    operation = failing(5, ConnectionError("fatal"))
    with pytest.raises(ConnectionError):
        run(
            operation,
            RetryPolicy(max_tries=5),
            clock,
            give_up=lambda error: str(error) == "fatal",
        )
    assert operation.calls["n"] == 1  # type: ignore[attr-defined]


def test_reports_each_failed_try_to_the_on_retry_hook() -> None:
    clock = FakeClock()
    attempts: list[RetryAttempt] = []
    error = ConnectionError("x")
    policy = RetryPolicy(initial_delay=0.5, jitter=0, max_tries=3)
    run(failing(2, error), policy, clock, on_retry=attempts.append)
    assert [(a.tries, a.wait, a.error) for a in attempts] == [(1, 0.5, error), (2, 1.0, error)]
    assert [a.elapsed for a in attempts] == pytest.approx([0.0, 0.5])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_tries": 0},
        {"max_time": 0},
        {"max_tries": 1, "jitter": 1.5},
        {"max_tries": 1, "multiplier": 0.5},
        {"max_tries": 1, "initial_delay": -1},
    ],
)
def test_a_policy_that_could_retry_forever_or_is_nonsensical_is_refused(
    kwargs: dict[str, float],
) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
