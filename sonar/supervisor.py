"""Child processes started, watched and stopped by pid: the one process supervisor of Hydrogen.

The local chain (anvil), the IPFS host and the demo's mine daemons all run as children
supervised the same way:

- started in a session of their own (a Ctrl-C in the terminal reaches the parent only, which
  then stops its children in order) with stdin closed and stdout and stderr in a log file;
- ready once a predicate on that log says so (`wait_ready`); a child that exits first, or is
  not ready in time, raises `ProcessStartError` with the last lines of its log;
- stopped by pid, never by name: SIGTERM, then SIGKILL if it has not exited in time
  (`stop`, or `stop_all` for many at once, concurrently);
- on Linux, also stopped by the kernel (SIGTERM) when the thread that started it dies, so
  that not even a SIGKILLed parent leaves children behind (`die_with_parent`).

It lives in `sonar`, the package every other one depends on, so that all of them use it.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

from sonar.errors import SonarError
from sonar.retry import Backoff, retry_call

T = TypeVar("T")

_LOG = logging.getLogger("sonar.supervisor")

LOG_TAIL_LINES = 40
DEFAULT_STOP_TIMEOUT = 10.0
# Readiness is checked every 20 ms at first, at most every 250 ms: start-up latency stays low.
_READINESS_BACKOFF = Backoff(initial=0.02, maximum=0.25)


class ProcessStartError(SonarError, RuntimeError):
    """A supervised process exited while starting, or was not ready in time.

    Attributes:
        name: the process's name.
        reason: what went wrong ("exited with code 1 while starting").
        log_path: its log file.
        log_tail: the last lines of its log.
        exit_code: its exit code if it exited, else None.
    """

    def __init__(
        self,
        *,
        name: str,
        reason: str,
        log_path: Path,
        log_tail: str,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(f"{name} {reason}\n--- last lines of {log_path} ---\n{log_tail}".rstrip())
        self.name = name
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        self.exit_code = exit_code


class _NotReady(Exception):
    """The process is still starting; readiness is checked again."""


class SupervisedProcess:
    """A running child process, its log file, and how to stop it.

    Use it as a context manager, or call `stop`, so that it never outlives its parent's use
    of it.
    """

    def __init__(
        self, name: str, process: subprocess.Popen[bytes], log_path: Path, log_file: IO[bytes]
    ) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self._log_file = log_file

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        die_with_parent: bool = True,
    ) -> SupervisedProcess:
        """Starts `argv` with its output appended to `log_path`.

        Parameters:
            name: a name for messages ("anvil", "mine-3").
            argv: the program and its arguments.
            log_path: the log file (created, or appended to if it exists).
            env: the environment; None inherits this process's.
            cwd: the working directory; None inherits this process's.
            die_with_parent: on Linux, have the kernel send SIGTERM to the child when the
                thread that started it exits. Turn it off to start a process from a thread
                that ends before the process should.

        Raises:
            OSError: the program could not be executed.
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = log_path.open("ab")
        try:
            process = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_parent_death_signal() if die_with_parent else None,
            )
        except BaseException:
            log_file.close()
            raise
        _LOG.debug("started %s (pid %d): %s", name, process.pid, " ".join(argv))
        return cls(name, process, log_path, log_file)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def log_text(self) -> str:
        """The whole log so far ("" if it cannot be read)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_ready(self, ready: Callable[[str], T | None], *, timeout: float) -> T:
        """Waits until `ready(log text)` returns something other than None, and returns it.

        Parameters:
            ready: reads the log so far; returns None while the process is not ready. It may
                raise `ProcessStartError` itself (e.g. the log reports a fatal error).
            timeout: seconds to wait.

        Raises:
            ProcessStartError: the process exited, or was not ready within `timeout`.
        """

        def probe() -> T:
            code = self.process.poll()
            log = self.log_text()
            result = ready(log)
            if result is not None:
                return result
            if code is not None:
                raise self.start_error(f"exited with code {code} while starting", exit_code=code)
            raise _NotReady

        try:
            return retry_call(
                probe, retry_on=(_NotReady,), backoff=_READINESS_BACKOFF, max_time=timeout
            )
        except _NotReady:
            raise self.start_error(f"was not ready within {timeout:g} s") from None

    def start_error(self, reason: str, *, exit_code: int | None = None) -> ProcessStartError:
        """A `ProcessStartError` about this process, with the tail of its log."""
        return ProcessStartError(
            name=self.name,
            reason=reason,
            log_path=self.log_path,
            log_tail=self.log_tail(),
            exit_code=exit_code,
        )

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int:
        """Stops the process (SIGTERM, SIGKILL after `timeout` s); returns its exit code.

        Safe to call more than once, and on a process that already exited.
        """
        stop_all([self], timeout=timeout)
        return self.process.returncode

    def kill(self) -> int:
        """SIGKILLs the process at once, as a crash would; returns its exit code."""
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        self._log_file.close()
        return code

    def __enter__(self) -> SupervisedProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def stop_all(processes: Iterable[SupervisedProcess], *, timeout: float) -> None:
    """Stops processes concurrently: SIGTERM to all, one shared deadline, SIGKILL to laggards."""
    processes = list(processes)
    for supervised in processes:
        if supervised.process.poll() is None:
            supervised.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for supervised in processes:
        try:
            supervised.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            _LOG.warning(
                "%s (pid %d) ignored SIGTERM for %.1f s; killing it",
                supervised.name,
                supervised.pid,
                timeout,
            )
            supervised.process.kill()
            supervised.process.wait()
        supervised._log_file.close()


@functools.cache
def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when its parent thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    term = int(signal.SIGTERM)

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, term, 0, 0, 0)

    return set_parent_death_signal


def python_environment(**extra: str) -> dict[str, str]:
    """This process's environment for a Python child: PYTHONPATH set to this interpreter's
    import path (absolute: the child may run elsewhere), so that the child imports what
    this process can, whether that is a test's sandbox or a pex; plus `extra` variables."""
    path = os.pathsep.join(os.path.abspath(entry or os.curdir) for entry in sys.path)
    return {**os.environ, "PYTHONPATH": path, **extra}
