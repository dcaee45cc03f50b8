"""Tests of the process supervisor with real child processes (small bash scripts)."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from sonar.supervisor import ProcessStartError, SupervisedProcess, stop_all


def pid_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def bash(name: str, body: str, tmp_path: Path, **kwargs: object) -> SupervisedProcess:
    return SupervisedProcess.start(
        name, ["bash", "-c", body], log_path=tmp_path / f"{name}.log", **kwargs  # type: ignore[arg-type]
    )


def port_from(log: str) -> int | None:
    match = re.search(r"listening on (\d+)", log)
    return int(match.group(1)) if match else None


def test_wait_ready_returns_what_the_predicate_reads_from_the_log(tmp_path: Path) -> None:
    with bash(
        "server", "echo starting; sleep 0.3; echo 'listening on 4321'; sleep 60", tmp_path
    ) as server:
        assert server.wait_ready(port_from, timeout=10) == 4321
        assert server.running
        assert "starting" in server.log_tail()
    assert pid_is_gone(server.pid)
    assert server.returncode is not None


def test_a_process_that_exits_while_starting_is_reported_with_its_code_and_log(
    tmp_path: Path,
) -> None:
    process = bash("broken", "echo 'Error: address in use' >&2; exit 3", tmp_path)
    with pytest.raises(ProcessStartError) as raised:
        process.wait_ready(port_from, timeout=10)
    error = raised.value
    assert (error.name, error.exit_code) == ("broken", 3)
    assert error.reason == "exited with code 3 while starting"
    assert "Error: address in use" in error.log_tail
    assert str(error).startswith("broken exited with code 3 while starting\n--- last lines of ")
    assert error.log_path == tmp_path / "broken.log"


def test_a_process_never_ready_times_out_and_stop_kills_it_even_if_it_ignores_sigterm(
    tmp_path: Path,
) -> None:
    process = bash(
        "stubborn", "trap '' TERM; echo 'still initialising'; while :; do sleep 0.1; done", tmp_path
    )
    began = time.monotonic()
    with pytest.raises(ProcessStartError) as raised:
        process.wait_ready(port_from, timeout=1.0)
    assert raised.value.reason == "was not ready within 1 s"
    assert "still initialising" in raised.value.log_tail
    assert time.monotonic() - began < 10, "the timeout was not kept"
    code = process.stop(timeout=0.5)
    assert code == -9
    assert pid_is_gone(process.pid)


def test_stop_sends_sigterm_first_and_is_safe_to_repeat(tmp_path: Path) -> None:
    process = bash(
        "polite",
        "trap 'echo got TERM; exit 0' TERM; echo up; while :; do sleep 0.05; done",
        tmp_path,
    )
    process.wait_ready(lambda log: "up" in log or None, timeout=10)
    assert process.stop(timeout=5) == 0
    assert "got TERM" in process.log_text()
    assert process.stop(timeout=5) == 0


def test_stop_all_stops_many_processes_within_one_shared_deadline(tmp_path: Path) -> None:
    processes = [
        bash(f"stubborn-{i}", "trap '' TERM; echo up; while :; do sleep 0.05; done", tmp_path)
        for i in range(4)
    ]
    for process in processes:
        process.wait_ready(lambda log: "up" in log or None, timeout=10)
    began = time.monotonic()
    stop_all(processes, timeout=2.0)
    # One after another: 4 x 2 s. Shared: about 2 s, with room for a loaded machine.
    assert time.monotonic() - began < 6.0, "the deadline is shared, not 2 s each"
    assert all(pid_is_gone(p.pid) for p in processes)


def test_kill_ends_the_process_at_once_as_a_crash_would(tmp_path: Path) -> None:
    process = bash("victim", "trap 'exit 0' TERM; echo up; sleep 60", tmp_path)
    process.wait_ready(lambda log: "up" in log or None, timeout=10)
    assert process.kill() == -9
    assert pid_is_gone(process.pid)


def test_the_kernel_stops_a_child_whose_starting_thread_died(tmp_path: Path) -> None:
    started: list[SupervisedProcess] = []

    def start_then_die() -> None:
        process = bash("orphan", "echo up; sleep 60", tmp_path)
        process.wait_ready(lambda log: "up" in log or None, timeout=10)
        started.append(process)

    thread = threading.Thread(target=start_then_die)
    thread.start()
    thread.join()
    (process,) = started
    deadline = time.monotonic() + 10
    while process.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.running, "PR_SET_PDEATHSIG should have ended it with the thread"
    assert process.returncode == -15


def test_a_child_can_outlive_its_starting_thread_when_asked(tmp_path: Path) -> None:
    started: list[SupervisedProcess] = []

    def start() -> None:
        started.append(bash("survivor", "echo up; sleep 60", tmp_path, die_with_parent=False))

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    (process,) = started
    with process:
        process.wait_ready(lambda log: "up" in log or None, timeout=10)
        time.sleep(0.2)
        assert process.running
    assert pid_is_gone(process.pid)


def test_the_child_runs_in_a_session_of_its_own(tmp_path: Path) -> None:
    with bash("session", "echo up; sleep 60", tmp_path) as process:
        process.wait_ready(lambda log: "up" in log or None, timeout=10)
        assert os.getsid(process.pid) == process.pid != os.getsid(0)
