"""The root of every exception Sonar raises: the chain, its artifacts, the contract client.

`SonarError` is the one class to catch for "Sonar failed"; each part of the package derives
its own exceptions from it (see `sonar.client.errors` for the contract's reverts).
"""

from __future__ import annotations


class SonarError(Exception):
    """Root of the errors Sonar raises on purpose."""


class ArtifactError(SonarError):
    """A contract artifact is missing or not in the format this code reads."""


class GenesisError(SonarError):
    """An artifact cannot be placed in a genesis as it is."""


class ChainError(SonarError):
    """A local chain could not start, or did not answer as it should."""
