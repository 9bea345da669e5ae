"""Estimator factories: unfitted, clonable, categories stable, threads settable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from allotment.features.frame import FeatureKind, Task
from allotment.modeling.config import TrainConfig
from allotment.modeling.pipelines import (
    CategoryDtypes,
    calibrate,
    imbalance_weight,
    make_base_rate_baseline,
    make_lgbm_classifier,
    make_logistic_baseline,
    monotone_vector,
    refit_calibrator,
    set_scoring_threads,
)
from allotment.modeling.train import calibration_input
from tests.modeling.synthetic import make_frame

FEATURES = {"a": FeatureKind.NUMERIC, "region": FeatureKind.CATEGORICAL}


def _config(**overrides: object) -> TrainConfig:
    return TrainConfig.model_validate({"task": "churn", **overrides})


def test_factories_return_unfitted_clonable_estimators() -> None:
    for est in (
        make_lgbm_classifier(FEATURES, _config()),
        make_logistic_baseline(FEATURES),
        make_base_rate_baseline(),
    ):
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
        clone(est)


def test_category_dtypes_uses_training_categories() -> None:
    train = pd.DataFrame({"a": [1, 2], "region": ["x", "y"]})
    cast = CategoryDtypes(("region",)).fit(train)
    out = cast.transform(pd.DataFrame({"a": [3, 4], "region": ["y", "zzz"]}))
    assert list(out["region"].cat.categories) == ["x", "y"]
    assert out["region"].iloc[0] == "y"
    assert pd.isna(out["region"].iloc[1])  # unseen category -> missing, never a wrong code
    assert out["a"].dtype == np.float64
    with pytest.raises(ValueError, match="columns differ"):
        cast.transform(pd.DataFrame({"region": ["x"], "a": [1]}))


def test_monotone_vector() -> None:
    assert monotone_vector(FEATURES, {}) is None
    assert monotone_vector(FEATURES, {"a": -1}) == [-1, 0]
    with pytest.raises(ValueError, match="unknown"):
        monotone_vector(FEATURES, {"b": 1})
    with pytest.raises(ValueError, match="categorical"):
        monotone_vector(FEATURES, {"region": 1})


def test_imbalance_weight() -> None:
    y = np.array([1] + [0] * 9)
    assert imbalance_weight(y, "none") == 1.0
    assert imbalance_weight(y, "balanced") == pytest.approx(9.0)
    assert imbalance_weight(y, "sqrt") == pytest.approx(3.0)
    with pytest.raises(ValueError):
        imbalance_weight(y, "smote")


def test_logistic_baseline_handles_missing_and_unseen_categories() -> None:
    frame = make_frame(n=400, seed=1, task=Task.CHURN)
    model = make_logistic_baseline(frame.features).fit(frame.X, frame.y)
    X = frame.X.head(3).copy()
    X["region"] = pd.Categorical([None, "north", "west"], categories=["north", "west"])
    X.loc[0, "lead_time_sd"] = np.nan
    p = model.predict_proba(X)[:, 1]
    assert np.isfinite(p).all()


def test_calibrated_model_and_scoring_threads() -> None:
    frame = make_frame(n=600, seed=2, task=Task.CHURN)
    clf = make_lgbm_classifier(frame.features, _config(lightgbm={"n_estimators": 20}))
    assert frame.y is not None
    clf.fit(frame.X.iloc[:400], frame.y.iloc[:400])
    model = calibrate(clf, "sigmoid").fit(frame.X.iloc[400:], frame.y.iloc[400:])
    p = model.predict_proba(frame.X)[:, 1]
    assert ((p > 0) & (p < 1)).all()
    assert set_scoring_threads(model, 1) >= 1
    assert clf.named_steps["model"].get_params()["n_jobs"] == 1
    assert np.allclose(model.predict_proba(frame.X)[:, 1], p)
    with pytest.raises(ValueError, match="calibration"):
        calibrate(clf, "beta")


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_refit_calibrator_on_the_classifiers_own_scores_reproduces_the_fitted_model(
    method: str,
) -> None:
    frame = make_frame(n=1200, seed=4, task=Task.CHURN)
    assert frame.y is not None
    y = frame.y.to_numpy().astype(np.int64)
    clf = make_lgbm_classifier(frame.features, _config(lightgbm={"n_estimators": 30}))
    clf.fit(frame.X.iloc[:600], y[:600])
    model = calibrate(clf, method).fit(frame.X.iloc[600:], y[600:])
    before = model.predict_proba(frame.X)[:, 1]
    refit_calibrator(model, calibration_input(clf, frame.X.iloc[600:]), y[600:])
    assert len(model.calibrated_classifiers_) == 1
    assert len(model.calibrated_classifiers_[0].calibrators) == 1
    np.testing.assert_allclose(model.predict_proba(frame.X)[:, 1], before, atol=1e-9)


def test_refit_calibrator_follows_the_scores_it_is_given() -> None:
    frame = make_frame(n=1200, seed=4, task=Task.CHURN)
    assert frame.y is not None
    y = frame.y.to_numpy().astype(np.int64)
    clf = make_lgbm_classifier(frame.features, _config(lightgbm={"n_estimators": 30}))
    clf.fit(frame.X.iloc[:600], y[:600])
    model = calibrate(clf, "sigmoid").fit(frame.X.iloc[600:], y[600:])
    before = model.predict_proba(frame.X)[:, 1].mean()
    # the same scores with every outcome positive: the calibrator must now predict higher
    scores = calibration_input(clf, frame.X.iloc[600:])
    refit_calibrator(model, np.r_[scores, scores], np.r_[y[600:], np.ones(600, np.int64)])
    assert model.predict_proba(frame.X)[:, 1].mean() > before + 0.1
