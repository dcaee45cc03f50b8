"""The mine's exceptions: one root, `MineError`, for what stops a mine from starting."""

from __future__ import annotations


class MineError(Exception):
    """Root of the errors the mine raises on purpose."""


class ConfigError(MineError, ValueError):
    """A setting is missing or invalid; the message names the option and its variable."""


class StateError(MineError):
    """The state directory belongs to another account, or its database is not the mine's."""
