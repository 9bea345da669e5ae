"""Features: one definition each, computed as of a point in time, for training and scoring.

Build a task's frame with :func:`training_frame` / :func:`scoring_frame`, or the task's own
builder (:func:`supplier_delay_frame`, :func:`sla_breach_frame`, :func:`churn_frame`:
training rows by default, scoring rows with ``as_of=``). Load the tables once with
:func:`load_tables` to build several frames from one read. Every feature's definition and
unit is in :data:`FEATURES` (:func:`feature_table` renders it as Markdown).
"""

from allotment.features.build import (
    BUILDERS,
    LATEST,
    churn_frame,
    scoring_frame,
    sla_breach_frame,
    supplier_delay_frame,
    training_frame,
)
from allotment.features.frame import FeatureKind, Task, TaskFrame
from allotment.features.registry import (
    FEATURES,
    SPECS,
    TASK_FEATURES,
    FeatureSpec,
    feature_table,
)
from allotment.features.tables import Tables, load_tables

__all__ = [
    "BUILDERS",
    "FEATURES",
    "LATEST",
    "SPECS",
    "TASK_FEATURES",
    "FeatureKind",
    "FeatureSpec",
    "Tables",
    "Task",
    "TaskFrame",
    "churn_frame",
    "feature_table",
    "load_tables",
    "scoring_frame",
    "sla_breach_frame",
    "supplier_delay_frame",
    "training_frame",
]
