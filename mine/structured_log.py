"""The mine's log: one line per event, in logfmt, each naming the mine, model and version.

    time=2026-12-02T10:00:00.123Z level=info mine=0x7099...79C8 model=0 version=3
    event=submitted gradient=Qm... msg="submitted a gradient of 36 rows"

(one line in the log; folded here).

Code logs with `extra={"model": ..., "version": ..., "event": ...}` and any other fields it
wants shown; the formatter adds the time, level and mine address and quotes what needs it.
One line per record: a traceback is folded into the `error` field of its line.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

# Attributes every LogRecord has; anything else passed in `extra` is a field to show.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_FIRST = ("model", "version", "event")


class LogfmtFormatter(logging.Formatter):
    """Formats records as logfmt lines for one mine."""

    def __init__(self, mine: str) -> None:
        super().__init__()
        self.mine = mine

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, timezone.utc)
        fields: dict[str, object] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "mine": self.mine,
        }
        extra = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        for key in _FIRST:
            if key in extra:
                fields[key] = extra.pop(key)
        fields.update(extra)
        fields["msg"] = record.getMessage()
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return " ".join(f"{key}={_quote(value)}" for key, value in fields.items())


def _quote(value: object) -> str:
    text = str(value)
    if text and not any(char in text for char in ' "=\n\t\\'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def configure(mine: str, level: str) -> None:
    """Sends every log record of this process to stderr as logfmt lines for `mine`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter(mine))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The HTTP clients' per-request debug lines say nothing a mine's operator needs.
    for noisy in ("urllib3", "web3", "ipfshttpclient"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
