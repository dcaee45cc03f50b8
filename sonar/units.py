"""The units ModelRepository deals in, defined once for every package.

They are `NewType`s of int and bytes: free at run time, distinct to a type checker.
`sonar.client` re-exports them; code that needs only the units (the encrypted model, the
formats) imports them from here, which keeps the contract out of its build dependencies.
"""

from __future__ import annotations

from typing import NewType

Wei = NewType("Wei", int)
ModelId = NewType("ModelId", int)
"""The contract's id of a model: 0, 1, ... in the order models were posted."""
GradientId = NewType("GradientId", int)
"""The contract's id of a gradient: model id, version and submitter packed (see gradient_id_of)."""
ErrorScore = NewType("ErrorScore", int)
"""A model's error as the contract stores it: a uint64 on a scale the clients agree on.

PySonar's scale is round(MSE * 10**6) (`pysonar.model.error_scale`). Lower is better."""
CidDigest = NewType("CidDigest", bytes)
"""The 32-byte sha256 digest of a CIDv0, which is what the contract stores."""
