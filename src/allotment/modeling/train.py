"""Train one task: split, fit LightGBM with early stopping, calibrate, baselines, evaluate.

No MLflow here: :func:`train_task` returns a :class:`TrainResult` carrying everything a
registry needs (fitted model, params, metrics, feature names/kinds, an input example,
calibration curve, importances, timings).

Validation rows serve two purposes: early stopping of LightGBM, then fitting the probability
calibrator. Reusing them is a deliberate trade-off (the number of trees is one scalar chosen
on them, so the optimism it adds to the calibrator is tiny) that keeps every test row for the
final, untouched evaluation. With ``calibration_rows: history`` the calibrator also sees
out-of-time scores of the training rows (:func:`history_scores`), so one season in the
validation window cannot tilt every later prediction; the test rows stay untouched either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from allotment.errors import AppError
from allotment.features.frame import FeatureKind, Task, TaskFrame
from allotment.modeling.config import QuantileConfig, TrainConfig
from allotment.modeling.metrics import (
    CalibrationCurve,
    ClassificationMetrics,
    calibration_curve,
    classification_metrics,
    quantile_metrics,
)
from allotment.modeling.pipelines import (
    calibrate,
    imbalance_weight,
    make_base_rate_baseline,
    make_lgbm_classifier,
    make_logistic_baseline,
    make_quantile_regressor,
    refit_calibrator,
)
from allotment.modeling.split import Split, check_split, stratified_split, time_split

Progress = Callable[[str], None]
INPUT_EXAMPLE_ROWS = 5


class TrainDataError(AppError):
    """The frame cannot be trained on (no labels, wrong task, missing extra target)."""

    status_code = 422
    code = "train_data_invalid"


@dataclass(frozen=True)
class SplitSummary:
    """Rows, positives and ``as_of`` window (ISO dates; empty for stratified) per part."""

    method: str
    sizes: dict[str, int]
    positives: dict[str, int]
    windows: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class QuantileResult:
    """One quantile regressor of an extra target, and its test metrics."""

    alpha: float
    model: Any  # fitted Pipeline
    best_iteration: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrainResult:
    """Everything one training run produced.

    Attributes
    ----------
    model
        The calibrated classifier (``predict_proba(X)[:, 1]`` is the risk); fitted.
    classifier
        The uncalibrated LightGBM pipeline inside ``model`` (for SHAP, importances).
    metrics
        The calibrated model on the test split (with oracle AUC when the frame has one).
    uncalibrated_metrics
        The raw LightGBM probabilities on the test split (shows what calibration changed).
    baselines
        ``base_rate`` and ``logistic`` metrics on the same test rows.
    params
        Flat parameters for a tracker (config plus derived values such as ``best_iteration``).
    input_example
        A few raw feature rows from the test split (for a model signature / example).
    timings
        Wall seconds per stage and ``total``.
    """

    task: Task
    config: TrainConfig
    model: Any
    classifier: Any
    metrics: ClassificationMetrics
    uncalibrated_metrics: ClassificationMetrics
    baselines: dict[str, ClassificationMetrics]
    baseline_models: dict[str, Any]
    calibration_curve: CalibrationCurve
    feature_importances: dict[str, float]
    features: dict[str, FeatureKind]
    split: SplitSummary
    best_iteration: int
    params: dict[str, Any]
    input_example: pd.DataFrame
    test_predictions: npt.NDArray[np.float64]
    # Positional indices of the test rows in the frame (for registry evaluation and the gate).
    test_index: npt.NDArray[np.intp] = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    quantiles: list[QuantileResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def flat_metrics(self) -> dict[str, float]:
        """Every numeric metric as ``name -> value`` (``logistic.roc_auc``, ``p90...``)."""
        out: dict[str, float] = {}
        for key, value in self.metrics.to_dict().items():
            if value is not None:
                out[key] = float(value)
        for name, m in self.baselines.items():
            for key, value in m.to_dict().items():
                if value is not None and key not in (
                    "n",
                    "base_rate",
                    "oracle_auc",
                    "oracle_ece",
                    "oracle_n",
                ):
                    out[f"{name}.{key}"] = float(value)
        for key, value in self.uncalibrated_metrics.to_dict().items():
            if key in ("roc_auc", "ece", "log_loss", "brier"):
                out[f"uncalibrated.{key}"] = float(value)  # type: ignore[arg-type]
        for q in self.quantiles:
            out.update(q.metrics)
        return out


def make_split(frame: TaskFrame, config: TrainConfig) -> Split:
    """A time split when the frame has as-of times, else a seeded stratified split."""
    s = config.split
    if frame.as_of is not None and len(frame.as_of) and pd.Series(frame.as_of).notna().all():
        return time_split(
            frame.as_of,
            train_fraction=s.train_fraction,
            valid_fraction=s.valid_fraction,
            valid_start=s.valid_start,
            test_start=s.test_start,
            embargo_days=s.embargo_days,
            maturity_days=s.maturity_days,
        )
    if frame.y is None:
        raise TrainDataError("a stratified split needs labels")
    return stratified_split(
        frame.y, train_fraction=s.train_fraction, valid_fraction=s.valid_fraction, seed=config.seed
    )


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def _positive_proba(model: Any, X: pd.DataFrame) -> npt.NDArray[np.float64]:
    return np.asarray(model.predict_proba(X)[:, 1], dtype=np.float64)


def _fit_quantiles(
    frame: TaskFrame,
    config: TrainConfig,
    qconf: QuantileConfig,
    split: Split,
    X: pd.DataFrame,
    report: Progress,
) -> list[QuantileResult]:
    if qconf.target not in frame.extra_targets:
        raise TrainDataError(
            f"config asks for quantiles of {qconf.target!r}, which the {frame.task.value} frame "
            f"does not carry (extra targets: {sorted(frame.extra_targets)})"
        )
    target = pd.Series(frame.extra_targets[qconf.target]).to_numpy(dtype=np.float64)
    usable = np.isfinite(target)
    if qconf.rows == "late":
        usable &= target > 0
    parts = {
        name: split.part(name)[usable[split.part(name)]] for name in ("train", "valid", "test")
    }
    for name, idx in parts.items():
        if len(idx) == 0:
            raise TrainDataError(f"no {qconf.rows} rows with {qconf.target} in the {name} part")
    results = []
    for alpha in qconf.alphas:
        report(f"quantile regressor alpha={alpha}")
        reg = make_quantile_regressor(frame.features, config, qconf, alpha)
        caster = reg.named_steps["categories"]
        X_valid = caster.fit(X.iloc[parts["train"]]).transform(X.iloc[parts["valid"]])
        reg.fit(
            X.iloc[parts["train"]],
            target[parts["train"]],
            model__eval_X=(X_valid,),
            model__eval_y=(target[parts["valid"]],),
            model__eval_metric="quantile",
            model__callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
        )
        pred = np.asarray(reg.predict(X.iloc[parts["test"]]), dtype=np.float64)
        results.append(
            QuantileResult(
                alpha=alpha,
                model=reg,
                best_iteration=int(reg.named_steps["model"].best_iteration_ or 0),
                metrics=quantile_metrics(target[parts["test"]], pred, alpha),
            )
        )
    return results


def fit_early_stopped(
    features: dict[str, FeatureKind],
    config: TrainConfig,
    X_tr: pd.DataFrame,
    y_tr: npt.NDArray[np.int64],
    X_va: pd.DataFrame,
    y_va: npt.NDArray[np.int64],
) -> tuple[Any, float]:
    """Fit the LightGBM pipeline on the train rows, stopping early on the validation rows.

    Returns the fitted (uncalibrated) pipeline and the ``scale_pos_weight`` it used.
    """
    spw = imbalance_weight(y_tr, config.imbalance)
    clf = make_lgbm_classifier(features, config, scale_pos_weight=spw)
    X_va_cast = clf.named_steps["categories"].fit(X_tr).transform(X_va)
    # weighted training distorts log loss on validation, so stop on AUC then
    metric = "binary_logloss" if config.imbalance == "none" else "auc"
    clf.fit(
        X_tr,
        y_tr,
        model__eval_X=(X_va_cast,),
        model__eval_y=(y_va,),
        model__eval_metric=metric,
        model__callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False)
        ],
    )
    return clf, spw


def calibration_input(model: Any, X: pd.DataFrame) -> npt.NDArray[np.float64]:
    """What scikit-learn's calibrator reads from ``model``: ``decision_function`` (LightGBM's
    raw log-odds) when it has one, else the positive-class probability."""
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=np.float64).ravel()
    return _positive_proba(model, X)


def history_scores(
    frame: TaskFrame,
    config: TrainConfig,
    split: Split,
    X: pd.DataFrame,
    y: npt.NDArray[np.int64],
    clf: Any,
    n_trees: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Out-of-time scores for calibration: training blocks scored by earlier blocks' models.

    The training rows, in ``as_of`` order, are cut into ``config.calibration_blocks`` blocks
    (a date never straddles two); block ``k >= 1`` is scored by a LightGBM pipeline fitted like
    ``clf`` (same parameters and imbalance weighting, ``n_trees`` trees, no early stopping) on
    blocks ``0..k-1``. The validation rows, scored by ``clf`` itself, are appended. Nothing
    here reads the test rows.

    Returns
    -------
    scores, labels
        What each model hands its calibrator (:func:`calibration_input`) and the 0/1 outcomes
        of the same rows.
    """
    tr = split.train
    times = pd.to_datetime(pd.Series(frame.as_of)).to_numpy(dtype="datetime64[ns]")[tr]
    order = np.argsort(times, kind="stable")
    tr, times = tr[order], times[order]
    # cut at dates: a block starts at the first row of its date
    cuts = [
        int(np.searchsorted(times, times[len(tr) * k // config.calibration_blocks]))
        for k in range(1, config.calibration_blocks)
    ]
    blocks = np.split(tr, cuts)
    fixed = config.model_copy(
        update={"lightgbm": config.lightgbm.model_copy(update={"n_estimators": max(n_trees, 1)})}
    )
    scores: list[npt.NDArray[np.float64]] = []
    labels: list[npt.NDArray[np.int64]] = []
    for k in range(1, len(blocks)):
        fit_idx = np.concatenate(blocks[:k])
        target = blocks[k]
        if len(target) == 0 or len(np.unique(y[fit_idx])) < 2:
            continue
        spw = imbalance_weight(y[fit_idx], config.imbalance)
        model = make_lgbm_classifier(frame.features, fixed, scale_pos_weight=spw)
        model.fit(X.iloc[fit_idx], y[fit_idx])
        scores.append(calibration_input(model, X.iloc[target]))
        labels.append(y[target])
    scores.append(calibration_input(clf, X.iloc[split.valid]))
    labels.append(y[split.valid])
    return np.concatenate(scores), np.concatenate(labels)


def train_task(
    frame: TaskFrame, config: TrainConfig, *, progress: Progress | None = None
) -> TrainResult:
    """Train, calibrate and evaluate one task's model and its baselines.

    Parameters
    ----------
    frame
        Labelled rows (``frame.y`` required). ``frame.ids`` never enters the model.
    config
        The task's :class:`TrainConfig`; ``config.task`` must equal ``frame.task``.
    progress
        Called with a short message at each stage (for CLI progress output).

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainDataError, allotment.modeling.split.SplitError
        No labels, a task mismatch, or a split part that is empty or single-class.
    """
    report: Progress = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if frame.y is None:
        raise TrainDataError("the frame has no labels (y is None)")
    if frame.task != config.task:
        raise TrainDataError(f"frame is for {frame.task.value!r}, config for {config.task.value!r}")
    X = frame.X.reset_index(drop=True)
    y = pd.Series(frame.y).to_numpy(dtype=np.int64)
    oracle = None if frame.oracle is None else pd.Series(frame.oracle).to_numpy(np.float64)

    t0 = time.perf_counter()
    report("splitting")
    split = make_split(frame, config)
    check_split(y, split)
    tr, va, te = split.train, split.valid, split.test
    X_tr, X_va, X_te = X.iloc[tr], X.iloc[va], X.iloc[te]
    y_tr, y_va, y_te = y[tr], y[va], y[te]
    timings["split"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report(f"fitting LightGBM on {len(tr)} rows")
    clf, spw = fit_early_stopped(frame.features, config, X_tr, y_tr, X_va, y_va)
    report(f"fitted (scale_pos_weight={spw:.3g})")
    booster_model = clf.named_steps["model"]
    best_iteration = int(booster_model.best_iteration_ or booster_model.n_estimators)
    timings["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = calibrate(clf, config.calibration).fit(X_va, y_va)
    if config.calibration_rows == "history" and split.method == "time":
        scores, labels = history_scores(frame, config, split, X, y, clf, best_iteration)
        report(
            f"calibrating ({config.calibration}) on {len(va)} validation rows and "
            f"{len(labels) - len(va)} out-of-time training rows"
        )
        refit_calibrator(model, scores, labels)
    else:
        report(f"calibrating ({config.calibration}) on {len(va)} validation rows")
    timings["calibrate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report("fitting baselines")
    baseline_models: dict[str, Any] = {
        "base_rate": make_base_rate_baseline().fit(X_tr, y_tr),
        "logistic": make_logistic_baseline(frame.features, seed=config.seed).fit(X_tr, y_tr),
    }
    timings["baselines"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report(f"evaluating on {len(te)} test rows")
    oracle_te = None if oracle is None else oracle[te]
    p_te = _positive_proba(model, X_te)
    metrics = classification_metrics(y_te, p_te, oracle=oracle_te)
    raw = classification_metrics(y_te, _positive_proba(clf, X_te), oracle=oracle_te)
    baselines = {
        name: classification_metrics(y_te, _positive_proba(m, X_te), oracle=oracle_te)
        for name, m in baseline_models.items()
    }
    gains = booster_model.booster_.feature_importance(importance_type="gain")
    importances = {name: float(g) for name, g in zip(frame.features, gains, strict=True)}
    timings["evaluate"] = time.perf_counter() - t0

    quantiles: list[QuantileResult] = []
    if config.quantiles is not None:
        t0 = time.perf_counter()
        quantiles = _fit_quantiles(frame, config, config.quantiles, split, X, report)
        timings["quantiles"] = time.perf_counter() - t0

    params: dict[str, Any] = {}
    _flat("", config.model_dump(mode="json"), params)
    params.update(
        scale_pos_weight=spw,
        best_iteration=best_iteration,
        n_features=len(frame.features),
        split_method=split.method,
    )
    for q in quantiles:
        params[f"quantiles.best_iteration.p{round(q.alpha * 100):02d}"] = q.best_iteration
    timings["total"] = time.perf_counter() - started
    report(
        f"done in {timings['total']:.1f} s: test AUC {metrics.roc_auc:.4f}, ECE {metrics.ece:.4f}"
    )
    return TrainResult(
        task=frame.task,
        config=config,
        model=model,
        classifier=clf,
        metrics=metrics,
        uncalibrated_metrics=raw,
        baselines=baselines,
        baseline_models=baseline_models,
        calibration_curve=calibration_curve(y_te, p_te),
        feature_importances=importances,
        features=dict(frame.features),
        split=SplitSummary(
            method=split.method,
            sizes=split.sizes(),
            positives={"train": int(y_tr.sum()), "valid": int(y_va.sum()), "test": int(y_te.sum())},
            windows={
                k: (a.date().isoformat(), b.date().isoformat())
                for k, (a, b) in split.windows.items()
            },
        ),
        best_iteration=best_iteration,
        params=params,
        input_example=X_te.head(INPUT_EXAMPLE_ROWS).reset_index(drop=True),
        test_predictions=p_te,
        test_index=np.asarray(te, dtype=np.intp),
        quantiles=quantiles,
        timings=timings,
    )
