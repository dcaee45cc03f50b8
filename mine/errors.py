"""The mine's exceptions: one root, `MineError`, for what stops a mine from starting."""

from __future__ import annotations

from pathlib import Path


class MineError(Exception):
    """Root of the errors the mine raises on purpose."""


class ConfigError(MineError, ValueError):
    """A setting is missing or invalid; the message names the option and its variable."""


class ShardError(MineError, ValueError):
    """The mine's CSV file cannot be read as its data shard.

    Attributes:
        path: the file.
        line: the 1-based line the problem is on, or None for the file as a whole.
        reason: what is wrong.
    """

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class StateError(MineError):
    """The state directory belongs to another account, or its database is not the mine's."""
