"""Factories of UNFITTED scikit-learn estimators for the risk models and their baselines.

Every factory returns a fresh estimator; fitting happens in :mod:`allotment.modeling.train`.

Threads: LightGBM estimators are built with ``n_jobs = num_threads`` from the config
(training on this 2-core machine uses 2). **Single-row / small-batch scoring must use 1
thread** — OpenMP start-up per call costs more than it saves and contends with the web
workers; call :func:`set_scoring_threads` on a loaded model before serving it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from allotment.features.frame import FeatureKind
from allotment.modeling.config import LightGBMParams, QuantileConfig, TrainConfig

Features = Mapping[str, FeatureKind]


class CategoryDtypes(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Cast categorical columns to the pandas ``category`` dtype with the training categories.

    LightGBM reads the category codes, so scoring must use exactly the training categories in
    the same order; a value not seen in training becomes missing (NaN), never a wrong code.

    Parameters
    ----------
    categorical
        Names of the categorical columns; other columns are cast to float64.
    """

    def __init__(self, categorical: tuple[str, ...] = ()) -> None:
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y: Any = None) -> CategoryDtypes:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("CategoryDtypes needs a pandas DataFrame")
        missing = [c for c in self.categorical if c not in X.columns]
        if missing:
            raise ValueError(f"categorical columns not in X: {missing}")
        self.categories_: dict[str, list[Any]] = {}
        for col in self.categorical:
            series = X[col]
            if isinstance(series.dtype, pd.CategoricalDtype):
                self.categories_[col] = list(series.cat.categories)
            else:
                self.categories_[col] = sorted(series.dropna().unique().tolist())
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if list(X.columns) != list(self.feature_names_in_):
            raise ValueError("X columns differ from the columns seen in fit (names or order)")
        out = X.copy()
        for col in out.columns:
            if col in self.categories_:
                known = self.categories_[col]
                values = out[col].astype(object)
                values = values.where(values.isin(known), None)  # unseen or missing -> NaN
                out[col] = pd.Categorical(values, categories=known)
            else:
                out[col] = out[col].astype("float64")
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:  # type: ignore[type-arg]
        return np.asarray(self.feature_names_in_, dtype=object)


def categorical_names(features: Features) -> tuple[str, ...]:
    return tuple(n for n, k in features.items() if k == FeatureKind.CATEGORICAL)


def numeric_names(features: Features) -> tuple[str, ...]:
    return tuple(n for n, k in features.items() if k == FeatureKind.NUMERIC)


def monotone_vector(features: Features, constraints: Mapping[str, int]) -> list[int] | None:
    """LightGBM's ``monotone_constraints`` list in feature order (None when no constraints).

    Raises ``ValueError`` for an unknown or categorical feature.
    """
    if not constraints:
        return None
    unknown = sorted(set(constraints) - set(features))
    if unknown:
        raise ValueError(f"monotone_constraints name unknown features: {unknown}")
    categorical = [n for n in constraints if features[n] == FeatureKind.CATEGORICAL]
    if categorical:
        raise ValueError(f"monotone_constraints on categorical features: {categorical}")
    return [int(constraints.get(name, 0)) for name in features]


def _lgbm_common(params: LightGBMParams, seed: int) -> dict[str, Any]:
    return {
        "n_estimators": params.n_estimators,
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_child_samples": params.min_child_samples,
        "subsample": params.subsample,
        "subsample_freq": params.subsample_freq,
        "colsample_bytree": params.colsample_bytree,
        "reg_alpha": params.reg_alpha,
        "reg_lambda": params.reg_lambda,
        "min_split_gain": params.min_split_gain,
        "cat_smooth": params.cat_smooth,
        "max_cat_to_onehot": params.max_cat_to_onehot,
        "max_bin": params.max_bin,
        "n_jobs": params.num_threads,
        "random_state": seed,
        "deterministic": True,  # same data + seed + threads -> same model
        "force_row_wise": True,  # required by deterministic; avoids the col/row-wise probe
        "verbose": -1,
    }


def make_lgbm_classifier(
    features: Features, config: TrainConfig, *, scale_pos_weight: float = 1.0
) -> Pipeline:
    """The LightGBM risk classifier: category casting, then ``LGBMClassifier``.

    Categorical features are handled natively by LightGBM (pandas ``category`` dtype).

    Parameters
    ----------
    features
        Feature name -> kind, in column order.
    config
        Hyperparameters, seed, monotone constraints.
    scale_pos_weight
        Weight of positive rows (class imbalance; see :func:`imbalance_weight`).
    """
    params = _lgbm_common(config.lightgbm, config.seed)
    mono = monotone_vector(features, config.monotone_constraints)
    if mono is not None:
        params["monotone_constraints"] = mono
        # "advanced" broke monotonicity on a few rows in LightGBM 4.7 (tests/modeling); intermediate
        # is exact and still less conservative than "basic"
        params["monotone_constraints_method"] = "intermediate"
    model = lgb.LGBMClassifier(objective="binary", scale_pos_weight=scale_pos_weight, **params)
    return Pipeline([("categories", CategoryDtypes(categorical_names(features))), ("model", model)])


def make_quantile_regressor(
    features: Features, config: TrainConfig, quantiles: QuantileConfig, alpha: float
) -> Pipeline:
    """A LightGBM regressor of the ``alpha`` quantile (``objective="quantile"``)."""
    params = _lgbm_common(config.lightgbm, config.seed)
    params.update(
        n_estimators=quantiles.n_estimators,
        learning_rate=quantiles.learning_rate,
        num_leaves=quantiles.num_leaves,
        min_child_samples=quantiles.min_child_samples,
    )
    model = lgb.LGBMRegressor(objective="quantile", alpha=alpha, **params)
    return Pipeline([("categories", CategoryDtypes(categorical_names(features))), ("model", model)])


def imbalance_weight(y: np.ndarray, mode: str) -> float:  # type: ignore[type-arg]
    """``scale_pos_weight`` for the imbalance mode: 1, negatives/positives, or its root."""
    n_pos = float(np.sum(y == 1))
    n_neg = float(np.sum(y == 0))
    if mode == "none" or n_pos == 0:
        return 1.0
    ratio = n_neg / n_pos
    if mode == "balanced":
        return ratio
    if mode == "sqrt":
        return float(np.sqrt(ratio))
    raise ValueError(f"unknown imbalance mode {mode!r}")


def calibrate(fitted: Any, method: str) -> CalibratedClassifierCV:
    """An UNFITTED calibrator around an already FITTED classifier.

    Fit it on the validation split: ``calibrate(model, "isotonic").fit(X_valid, y_valid)``.
    ``FrozenEstimator`` keeps the classifier as trained (scikit-learn >= 1.6 replacement of
    ``cv="prefit"``); with it, ``ensemble="auto"`` fits a single calibrator on all the rows.
    """
    if method not in ("isotonic", "sigmoid"):
        raise ValueError(f"unknown calibration method {method!r}")
    return CalibratedClassifierCV(FrozenEstimator(fitted), method=method)


def refit_calibrator(
    model: CalibratedClassifierCV,
    scores: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
) -> CalibratedClassifierCV:
    """Refit the single calibrator of a fitted ``calibrate(...)`` model on given scores.

    ``scores`` are what the frozen classifier hands its calibrator (LightGBM's raw log-odds,
    see :func:`allotment.modeling.train.calibration_input`), here from out-of-time models
    fitted like it (:func:`allotment.modeling.train.history_scores`); ``labels`` are their
    outcomes. The model keeps its structure (one frozen classifier, one ``sigmoid`` or
    ``isotonic`` calibrator), so explanations read it as before. Returns ``model``, changed in
    place.
    """
    if len(model.calibrated_classifiers_) != 1:
        raise ValueError("expected a calibrator fitted around one frozen classifier")
    member = model.calibrated_classifiers_[0]
    if len(member.calibrators) != 1:
        raise ValueError("expected a binary classifier with one calibrator")
    calibrator: Any
    if member.method == "sigmoid":
        calibrator = _SigmoidCalibration()
    elif member.method == "isotonic":
        calibrator = IsotonicRegression(out_of_bounds="clip")
    else:  # pragma: no cover - calibrate() only builds these two
        raise ValueError(f"unknown calibration method {member.method!r}")
    calibrator.fit(np.asarray(scores, np.float64), np.asarray(labels, np.float64))
    member.calibrators[0] = calibrator
    return model


def make_base_rate_baseline() -> DummyClassifier:
    """Predicts the training base rate for every row (ROC AUC exactly 0.5)."""
    return DummyClassifier(strategy="prior")


def make_logistic_baseline(features: Features, *, seed: int = 42) -> Pipeline:
    """Logistic regression: median-impute + scale numerics, one-hot categoricals.

    Unknown categories at scoring time get an all-zero one-hot row; missing categories are
    their own level.
    """
    numeric = list(numeric_names(features))
    categorical = list(categorical_names(features))
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("as_object", _ToObject()),
                        (
                            "impute",
                            SimpleImputer(strategy="constant", fill_value="__missing__"),
                        ),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                categorical,
            )
        )
    return Pipeline(
        [
            ("prepare", ColumnTransformer(transformers)),
            ("model", LogisticRegression(max_iter=2000, random_state=seed)),
        ]
    )


class _ToObject(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Cast a frame of categoricals to object strings with NaN for missing (for the imputer)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> _ToObject:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        frame = pd.DataFrame(X).astype(object)
        return frame.where(frame.notna(), np.nan).astype(object)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        return input_features


def _lgbm_steps(model: Any) -> list[Any]:
    """Every LightGBM estimator inside ``model`` (pipelines, calibrators, frozen wrappers)."""
    found: list[Any] = []
    seen: set[int] = set()

    def walk(obj: Any) -> None:
        if obj is None or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, lgb.LGBMModel):
            found.append(obj)
            return
        if isinstance(obj, Pipeline):
            for _, step in obj.steps:
                walk(step)
        for attr in ("estimator", "calibrated_classifiers_"):
            child = getattr(obj, attr, None)
            if isinstance(child, list):
                for c in child:
                    walk(c)
            else:
                walk(child)

    walk(model)
    return found


def set_scoring_threads(model: Any, n_threads: int = 1) -> int:
    """Set the prediction threads of every LightGBM estimator in ``model``; returns how many.

    Use 1 for single-row scoring in the service (see module docstring).
    """
    steps = _lgbm_steps(model)
    for step in steps:
        step.set_params(n_jobs=n_threads)
    return len(steps)
