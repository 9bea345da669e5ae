"""train_task on synthetic frames whose true probabilities are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allotment.features.frame import FeatureKind, Task, TaskFrame
from allotment.modeling.config import TrainConfig, default_config
from allotment.modeling.split import SplitError
from allotment.modeling.train import TrainDataError, TrainResult, make_split, train_task
from tests.modeling.synthetic import make_frame

# Enough test rows for a stable AUC and an ECE noise floor near 0.02 (see metrics docstring).
N_LARGE = 30_000


@pytest.fixture(scope="module")
def large() -> tuple[TaskFrame, TrainResult]:
    frame = make_frame(n=N_LARGE, seed=11)
    return frame, train_task(frame, default_config(Task.SUPPLIER_DELAY))


def _fast(task: Task = Task.SUPPLIER_DELAY, **overrides: object) -> TrainConfig:
    base = default_config(task).model_dump()
    # keep only the constraints on features the synthetic frames have
    base["monotone_constraints"] = {
        k: v for k, v in base["monotone_constraints"].items() if k == "sup_ontime_rate_90d"
    }
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


def _peak_in_validation(seed: int) -> TaskFrame:
    """A frame whose validation window alone has a peak no feature shows (+1.5 log-odds)."""
    frame = make_frame(n=6000, seed=seed, task=Task.CHURN, with_days_late=False)
    assert frame.oracle is not None
    split = make_split(frame, _fast(Task.CHURN, split={}))
    p = frame.oracle.to_numpy()
    logit = np.log(p / (1 - p))
    logit[split.valid] += 1.5
    rng = np.random.default_rng(seed)
    y = (rng.random(len(p)) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return TaskFrame(
        task=frame.task,
        X=frame.X,
        features=frame.features,
        ids=frame.ids,
        as_of=frame.as_of,
        y=pd.Series(y),
        oracle=frame.oracle,
    )


def test_history_calibration_is_not_thrown_off_by_a_peak_in_the_validation_window() -> None:
    frame = _peak_in_validation(seed=12)
    assert frame.y is not None
    on_valid = train_task(frame, _fast(Task.CHURN, split={}))
    messages: list[str] = []
    on_history = train_task(
        frame, _fast(Task.CHURN, split={}, calibration_rows="history"), progress=messages.append
    )
    assert any("out-of-time training rows" in m for m in messages)
    test_rate = frame.y.to_numpy()[on_history.test_index].mean()
    # the validation-only calibrator learns the peak and over-predicts the test window
    gap_valid = abs(on_valid.test_predictions.mean() - test_rate)
    gap_history = abs(on_history.test_predictions.mean() - test_rate)
    assert gap_history < gap_valid / 2
    assert on_history.metrics.ece < on_valid.metrics.ece


def test_history_calibration_never_reads_the_test_labels() -> None:
    frame = make_frame(n=2000, seed=13, task=Task.CHURN, with_days_late=False)
    assert frame.y is not None
    config = _fast(Task.CHURN, split={}, calibration_rows="history")
    first = train_task(frame, config)
    y = frame.y.to_numpy().copy()
    y[first.test_index] = 1 - y[first.test_index]
    flipped = TaskFrame(
        task=frame.task,
        X=frame.X,
        features=frame.features,
        ids=frame.ids,
        as_of=frame.as_of,
        y=pd.Series(y),
    )
    second = train_task(flipped, config)
    np.testing.assert_array_equal(second.test_predictions, first.test_predictions)


def test_history_calibration_falls_back_to_validation_rows_without_times() -> None:
    base = make_frame(n=3000, seed=7, task=Task.CHURN, with_days_late=False)
    frame = TaskFrame(
        task=base.task,
        X=base.X,
        features=base.features,
        ids=base.ids,
        as_of=pd.Series([pd.NaT] * len(base)),
        y=base.y,
    )
    messages: list[str] = []
    train_task(frame, _fast(Task.CHURN, calibration_rows="history"), progress=messages.append)
    assert any(
        m.startswith("calibrating (sigmoid) on") and m.endswith("validation rows") for m in messages
    )
