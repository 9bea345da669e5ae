"""Small calibrated LightGBM models trained once per session on the synthetic oracle frame."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV

from allotment.explain import ModelExplainer
from allotment.features.frame import FeatureKind, TaskFrame
from allotment.modeling.config import TrainConfig
from allotment.modeling.pipelines import calibrate, make_lgbm_classifier
from allotment.modeling.registry import LoadedModel
from tests.modeling.synthetic import make_frame

CONFIG = TrainConfig(
    task="supplier_delay",
    lightgbm={"n_estimators": 40, "num_leaves": 15, "min_child_samples": 20, "num_threads": 1},
)


@pytest.fixture(scope="session")
def frame() -> TaskFrame:
    # lead_time_sd has ~5% NaN (the model learns a missing branch); the others have none
    return make_frame(n=1500, seed=3)


def fit(frame: TaskFrame, method: str = "sigmoid", X: pd.DataFrame | None = None) -> Any:
    X = frame.X if X is None else X
    assert frame.y is not None
    clf = make_lgbm_classifier(frame.features, CONFIG).fit(X[:1000], frame.y[:1000])
    return calibrate(clf, method).fit(X[1000:], frame.y[1000:])


@pytest.fixture(scope="session")
def sigmoid_model(frame: TaskFrame) -> Any:
    return fit(frame, "sigmoid")


@pytest.fixture(scope="session")
def loaded(sigmoid_model: Any, frame: TaskFrame) -> LoadedModel:
    return LoadedModel(
        name="test-delay", version=3, model=sigmoid_model, features=dict(frame.features)
    )


@pytest.fixture(scope="session")
def explainer(loaded: LoadedModel) -> ModelExplainer:
    return ModelExplainer.from_loaded(loaded)


@pytest.fixture(scope="session", params=["sigmoid", "isotonic", "ensemble"])
def any_model(request: pytest.FixtureRequest, frame: TaskFrame) -> tuple[Any, ModelExplainer]:
    """Each calibration the explainer supports; "ensemble" averages two CV (model, sigmoid)
    pairs, each with its own booster."""
    if request.param == "ensemble":
        assert frame.y is not None
        base = make_lgbm_classifier(frame.features, CONFIG)
        model = CalibratedClassifierCV(base, method="sigmoid", cv=2, ensemble=True)
        model.fit(frame.X, frame.y)
        assert len(model.calibrated_classifiers_) == 2
    else:
        model = fit(frame, request.param)
    features: dict[str, FeatureKind] = dict(frame.features)
    return model, ModelExplainer.from_model(model, features, name="m", version=1)


def rows_of(X: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as plain mappings (what the one-row path takes)."""
    out: list[dict[str, Any]] = []
    for rec in X.astype(object).to_dict(orient="records"):
        out.append({str(k): (None if v is None or v is np.nan else v) for k, v in rec.items()})
    return out
