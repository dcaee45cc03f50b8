"""The mine container's healthcheck: is the mine running, by its status file?

Imports nothing but the standard library and `mine.status`, so that a check costs a
fraction of a second: the image runs it every few seconds in each of ten containers, and
starting the whole mine (web3, the gradient code) for each check would keep two cores busy.

    python3 -c 'import sys; sys.path[:0] = ["/app/mine"]; from mine.health import main; main()'
    mine --check-health             # the same, through the mine's own entry point
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from mine.status import read_status

HEALTHY = 0
UNHEALTHY = 1
# The status is rewritten at least every 5 s while the mine lives (mine.status).
HEALTHY_STATUS_AGE = 30.0


def check_health(argv: Sequence[str], *, now: float | None = None) -> int:
    """0 if the status file says the mine runs (or waits for its chain or node) and was
    written in the last 30 s, else 1 with the reason.

    The state directory comes from `--state-dir` or MINE_STATE_DIR.
    """
    state_dir = argv[1] if argv[:1] == ["--state-dir"] else os.environ.get("MINE_STATE_DIR")
    if not state_dir:
        print("mine --check-health: no --state-dir and no MINE_STATE_DIR", file=sys.stderr)
        return UNHEALTHY
    try:
        status = read_status(Path(state_dir) / "status.json")
    except (OSError, ValueError) as error:
        print(f"mine --check-health: no status yet ({error})", file=sys.stderr)
        return UNHEALTHY
    written = datetime.fromisoformat(str(status["time"]).replace("Z", "+00:00")).timestamp()
    age = (time.time() if now is None else now) - written
    if status["state"] not in ("running", "waiting") or age > HEALTHY_STATUS_AGE:
        print(f"mine --check-health: {status['state']}, status {age:.0f} s old", file=sys.stderr)
        return UNHEALTHY
    return HEALTHY


def main() -> None:
    sys.exit(check_health(sys.argv[1:]))
