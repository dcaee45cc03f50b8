"""The data scientist's client: post a model, evaluate the mines' gradients, pay, close.

See `pysonar.data_scientist.scientist` for how gradients are read, scored and paid,
`pysonar.data_scientist.inbox` for how they are fetched, and
`pysonar.data_scientist.saved_state` for the state file that survives a restart.
"""

from pysonar.data_scientist.inbox import Fetched, GradientInbox
from pysonar.data_scientist.scientist import (
    DataScientist,
    GradientReview,
    GradientUnavailable,
    ModelAlreadyPosted,
    ModelVersion,
    TrainingState,
    TransactionInFlight,
)

__all__ = [
    "DataScientist",
    "Fetched",
    "GradientInbox",
    "GradientReview",
    "GradientUnavailable",
    "ModelAlreadyPosted",
    "ModelVersion",
    "TrainingState",
    "TransactionInFlight",
]
