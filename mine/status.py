"""The mine's one-line status file, for the platform and a container healthcheck to read.

`status.json` in the state directory holds one JSON object on one line, replaced atomically
(written beside it, then renamed), so a reader never sees half of it:

    {"time": "2026-12-02T10:00:00.123Z", "state": "running", "mine": "0x...", "block": 42,
     "open_models": 1, "answered": 7, "skipped": 0, "waiting_for": null,
     "last": "submitted model 0 version 6"}

`state` is "starting", "running", "waiting" (for the chain or its IPFS node, named in
`waiting_for`), "stopped" or "failed". The file is rewritten when anything but the time
changes, and at least every `HEARTBEAT_SECONDS`, so a stale time means a hung mine.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

HEARTBEAT_SECONDS = 5.0
STATES = ("starting", "running", "waiting", "stopped", "failed")


@dataclass(frozen=True)
class Status:
    state: str
    mine: str
    block: int = 0
    open_models: int = 0
    answered: int = 0
    skipped: int = 0
    waiting_for: str | None = None
    last: str | None = None


class StatusFile:
    """Writes a mine's status to `path`."""

    def __init__(self, path: Path, status: Status) -> None:
        self.path = path
        self._status = status
        self._written_at = float("-inf")
        self._written: Status | None = None

    @property
    def status(self) -> Status:
        return self._status

    def update(self, **changes: object) -> None:
        """Changes fields of the status and writes it if it changed or the heartbeat is due."""
        self._status = replace(self._status, **changes)  # type: ignore[arg-type]
        if self._status != self._written or time.monotonic() - self._written_at > HEARTBEAT_SECONDS:
            self._write()

    def _write(self) -> None:
        if self._status.state not in STATES:
            raise ValueError(f"unknown mine state {self._status.state!r}")
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = json.dumps({"time": now, **asdict(self._status)}) + "\n"
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(line)
        os.replace(partial, self.path)
        self._written, self._written_at = self._status, time.monotonic()


def read_status(path: Path) -> dict[str, object]:
    """The status a mine last wrote (for the demo platform, tests and healthchecks).

    Raises:
        OSError: there is no status file (the mine has not started).
        ValueError: the file is not a status line.
    """
    return json.loads(path.read_text())
