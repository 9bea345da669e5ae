"""train_task on synthetic frames whose true probabilities are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allotment.features.frame import FeatureKind, Task, TaskFrame
from allotment.modeling.config import TrainConfig, default_config
from allotment.modeling.split import SplitError
from allotment.modeling.train import TrainDataError, TrainResult, train_task
from tests.modeling.synthetic import make_frame

# Enough test rows for a stable AUC and an ECE noise floor near 0.02 (see metrics docstring).
N_LARGE = 30_000


@pytest.fixture(scope="module")
def large() -> tuple[TaskFrame, TrainResult]:
    frame = make_frame(n=N_LARGE, seed=11)
    return frame, train_task(frame, default_config(Task.SUPPLIER_DELAY))


def _fast(task: Task = Task.SUPPLIER_DELAY, **overrides: object) -> TrainConfig:
    base = default_config(task).model_dump()
    base["lightgbm"]["learning_rate"] = 0.1
    base["early_stopping_rounds"] = 30
    base.update(overrides)
    return TrainConfig.model_validate(base)


def test_model_reaches_oracle_auc_and_is_calibrated(large: tuple[TaskFrame, TrainResult]) -> None:
    _, result = large
    m = result.metrics
    assert m.oracle_auc is not None and m.auc_ratio is not None and m.oracle_ece is not None
    assert m.auc_ratio >= 0.97
    assert m.ece <= 0.03
    # the true probabilities themselves score 0.006-0.015 on these 6,000 test rows (noise floor)
    assert m.ece <= m.oracle_ece + 0.02


def test_model_beats_logistic_baseline_on_nonlinear_truth(
    large: tuple[TaskFrame, TrainResult],
) -> None:
    _, result = large
    assert result.metrics.roc_auc > result.baselines["logistic"].roc_auc + 0.01
    assert result.metrics.log_loss < result.baselines["logistic"].log_loss


def test_base_rate_baseline_auc_is_half(large: tuple[TaskFrame, TrainResult]) -> None:
    _, result = large
    assert result.baselines["base_rate"].roc_auc == 0.5


def test_days_late_quantiles_cover_their_level(large: tuple[TaskFrame, TrainResult]) -> None:
    _, result = large
    cover = {q.alpha: q.metrics[f"coverage_p{round(q.alpha * 100)}"] for q in result.quantiles}
    assert cover[0.5] == pytest.approx(0.5, abs=0.05)
    assert cover[0.9] == pytest.approx(0.9, abs=0.03)


def test_result_carries_what_a_registry_needs(large: tuple[TaskFrame, TrainResult]) -> None:
    frame, result = large
    assert result.feature_names == list(frame.X.columns)
    assert result.features["region"] == FeatureKind.CATEGORICAL
    assert list(result.input_example.columns) == result.feature_names
    assert len(result.input_example) == 5
    assert result.params["lightgbm.num_leaves"] == 31
    assert result.params["best_iteration"] == result.best_iteration > 0
    assert set(result.feature_importances) == set(result.feature_names)
    # the noise features carry less gain than the true drivers
    imp = result.feature_importances
    assert imp["sup_ontime_rate_90d"] > imp["noise_0"] and imp["qty_ratio"] > imp["noise_1"]
    sizes = result.split.sizes
    # the default config drops the newest 60 days (immature labels): 720 days -> about 660
    assert 0.88 * N_LARGE < sum(sizes.values()) < 0.94 * N_LARGE
    assert result.split.method == "time"
    assert result.split.windows["train"][1] < result.split.windows["valid"][0]
    assert len(result.calibration_curve.count) == 15
    flat = result.flat_metrics()
    assert {"roc_auc", "ece", "logistic.roc_auc", "pinball_p90", "coverage_p50"} <= set(flat)
    assert set(result.timings) >= {"fit", "calibrate", "total"}
    p = result.model.predict_proba(result.input_example)[:, 1]
    assert ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize("imbalance", ["balanced", "sqrt"])
def test_weighted_training_is_recalibrated(imbalance: str) -> None:
    frame = make_frame(n=8000, seed=5, intercept=-3.0, task=Task.CHURN, with_days_late=False)
    result = train_task(frame, _fast(Task.CHURN, imbalance=imbalance, split={}))
    assert result.params["scale_pos_weight"] > 1
    # weighting inflates raw probabilities; calibration brings them back to the base rate
    p_raw = result.classifier.predict_proba(frame.X)[:, 1]
    p_cal = result.model.predict_proba(frame.X)[:, 1]
    assert frame.y is not None
    y = frame.y.to_numpy()
    assert abs(p_cal.mean() - y.mean()) < 0.01 < p_raw.mean() - y.mean()
    assert result.metrics.ece < result.uncalibrated_metrics.ece


def test_isotonic_calibration_option() -> None:
    frame = make_frame(n=3000, seed=6)
    result = train_task(frame, _fast(calibration="isotonic", quantiles=None))
    assert result.params["calibration"] == "isotonic"
    assert result.metrics.roc_auc > 0.7


def test_without_times_a_seeded_stratified_split_is_used() -> None:
    base = make_frame(n=3000, seed=7, task=Task.CHURN, with_days_late=False)
    frame = TaskFrame(
        task=base.task,
        X=base.X,
        features=base.features,
        ids=base.ids,
        as_of=pd.Series([pd.NaT] * len(base)),
        y=base.y,
    )
    result = train_task(frame, _fast(Task.CHURN))
    assert result.split.method == "stratified" and result.split.windows == {}
    assert result.metrics.oracle_auc is None


def test_progress_messages() -> None:
    messages: list[str] = []
    train_task(make_frame(n=2000, seed=8), _fast(quantiles=None), progress=messages.append)
    assert messages[0] == "splitting" and messages[-1].startswith("done in")


def test_errors_are_clear() -> None:
    frame = make_frame(n=2000, seed=9, task=Task.CHURN, with_days_late=False)
    with pytest.raises(TrainDataError, match="config for 'supplier_delay'"):
        train_task(frame, _fast())
    with pytest.raises(TrainDataError, match="does not carry"):
        train_task(make_frame(n=2000, seed=9, with_days_late=False), _fast())
    unlabelled = TaskFrame(
        task=frame.task, X=frame.X, features=frame.features, ids=frame.ids, as_of=frame.as_of
    )
    with pytest.raises(TrainDataError, match="no labels"):
        train_task(unlabelled, _fast(Task.CHURN))
    one_class = TaskFrame(
        task=frame.task,
        X=frame.X,
        features=frame.features,
        ids=frame.ids,
        as_of=frame.as_of,
        y=pd.Series(np.zeros(len(frame), dtype=np.int8)),
    )
    with pytest.raises(SplitError, match="single class"):
        train_task(one_class, _fast(Task.CHURN))
