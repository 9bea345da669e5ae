"""Explanations: exact probability-space SHAP attributions, flagged inputs, plain reasons, cache.

See :mod:`allotment.explain.attribution` for the method.
"""

from allotment.explain.attribution import (
    METHOD,
    Attribution,
    AttributionRow,
    ModelExplainer,
    ModelNotExplainableError,
    Prediction,
)
from allotment.explain.inputs import FeatureFrameMismatchError, InputFlag, InputValidator

__all__ = [
    "METHOD",
    "Attribution",
    "AttributionRow",
    "FeatureFrameMismatchError",
    "InputFlag",
    "InputValidator",
    "ModelExplainer",
    "ModelNotExplainableError",
    "Prediction",
]
