"""Behavioural model tests: directional (monotone) and invariance (ids are not features)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from allotment.features.frame import Task, TaskFrame
from allotment.modeling.behaviour import check_directional
from allotment.modeling.config import TrainConfig, default_config
from allotment.modeling.train import train_task
from tests.modeling.synthetic import make_frame


def _config(**overrides: Any) -> TrainConfig:
    base = default_config(Task.SUPPLIER_DELAY).model_dump()
    base["lightgbm"]["learning_rate"] = 0.1
    base["early_stopping_rounds"] = 30
    base["quantiles"] = None
    base.update(overrides)
    return TrainConfig.model_validate(base)


@pytest.fixture(scope="module")
def frame() -> TaskFrame:
    return make_frame(n=5000, seed=21)


def test_worse_on_time_rate_never_lowers_delay_risk_when_constrained(frame: TaskFrame) -> None:
    result = train_task(frame, _config(monotone_constraints={"sup_ontime_rate_90d": -1}))
    for delta in (0.01, 0.05, 0.2):
        report = check_directional(result.model, frame.X, "sup_ontime_rate_90d", -1, delta=delta)
        assert report.ok, report
        assert report.mean_change < 0  # and it does move: lower risk with a better rate
    # a supplier's lead-time variability has no constraint; still check the mean direction
    lead = check_directional(result.model, frame.X, "lead_time_sd", +1)
    assert lead.mean_change > 0


def test_directional_check_reports_violations() -> None:
    class Inverted:
        """A stub whose risk rises with the feature (violates direction -1)."""

        def predict_proba(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
            p = 1 / (1 + np.exp(-X["sup_ontime_rate_90d"].to_numpy(dtype=np.float64)))
            out: np.ndarray[Any, Any] = np.c_[1 - p, p]
            return out

    X = pd.DataFrame({"sup_ontime_rate_90d": np.linspace(0, 1, 11)})
    report = check_directional(Inverted(), X, "sup_ontime_rate_90d", -1, delta=0.1)
    assert not report.ok and report.violations == 11 and report.worst > 0
    assert check_directional(Inverted(), X, "sup_ontime_rate_90d", +1, delta=0.1).ok
    with pytest.raises(ValueError, match="direction"):
        check_directional(Inverted(), X, "sup_ontime_rate_90d", 0)
    with pytest.raises(ValueError, match="column"):
        check_directional(Inverted(), X, "nope", 1)


def test_renaming_or_shuffling_ids_changes_nothing(frame: TaskFrame) -> None:
    config = _config()
    first = train_task(frame, config)
    renamed = TaskFrame(
        task=frame.task,
        X=frame.X,
        features=frame.features,
        ids=pd.Series(np.random.default_rng(0).permutation([f"X-{i}" for i in range(len(frame))])),
        as_of=frame.as_of,
        y=frame.y,
        extra_targets=frame.extra_targets,
        oracle=frame.oracle,
    )
    second = train_task(renamed, config)
    assert np.array_equal(first.test_predictions, second.test_predictions)
    assert first.metrics == second.metrics
