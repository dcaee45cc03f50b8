"""The data scientist's client: post a model, evaluate the mines' gradients, pay, close.

See `pysonar.data_scientist.scientist` for how gradients are read, scored and paid, and
`pysonar.data_scientist.inbox` for how they are fetched.
"""

from pysonar.data_scientist.inbox import Fetched, GradientInbox
from pysonar.data_scientist.scientist import (
    DataScientist,
    GradientReview,
    GradientUnavailable,
    ModelVersion,
    TrainingState,
)

__all__ = [
    "DataScientist",
    "Fetched",
    "GradientInbox",
    "GradientReview",
    "GradientUnavailable",
    "ModelVersion",
    "TrainingState",
]
