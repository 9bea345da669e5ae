"""MLflow registry: log, register, promote through the gate, load the champion, roll back.

One temporary MLflow store per module (its first use migrates a SQLite file, ~3 s); every test
registers under its own model name, so tests do not see each other's aliases.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from allotment.config import get_settings
from allotment.errors import (
    ModelPromotionRefusedError,
    ModelSignatureError,
    ModelUnavailableError,
    NotFoundError,
)
from allotment.features.frame import FeatureKind, Task
from allotment.modeling import registry
from allotment.modeling.gate import GateConfig

FEATURES = {
    "on_time_rate": FeatureKind.NUMERIC,
    "lead_days": FeatureKind.NUMERIC,
    "ship_mode": FeatureKind.CATEGORICAL,
}
WINDOW = "2024-01-01..2024-03-31"
GOOD = {"roc_auc": 0.80, "ece": 0.01, "oracle_auc": 0.84, "logistic.roc_auc": 0.70}


def make_frame(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "on_time_rate": rng.uniform(0.5, 1.0, n),
            "lead_days": rng.integers(1, 60, n).astype("float64"),
            "ship_mode": pd.Categorical(
                rng.choice(["air", "sea", "road"], n), categories=["air", "road", "sea"]
            ),
        }
    )
    logit = -6 * (X["on_time_rate"] - 0.75) + 0.03 * (X["lead_days"] - 30)
    y = pd.Series((rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype("int8"))
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return make_frame(400, seed=1)


@pytest.fixture(scope="module")
def lgbm(data: tuple[pd.DataFrame, pd.Series]) -> lgb.LGBMClassifier:
    X, y = data
    return lgb.LGBMClassifier(n_estimators=30, num_leaves=7, verbose=-1, n_jobs=1).fit(X, y)


@pytest.fixture(scope="module")
def logistic(data: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    X, y = data
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["ship_mode"])], remainder="passthrough"
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))]).fit(X, y)


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _mlflow_store(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", store_uri)
    get_settings.cache_clear()
    registry.clear_cache()
    yield
    get_settings.cache_clear()


@pytest.fixture
def name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def log(
    model: Any,
    data: tuple[pd.DataFrame, pd.Series],
    name: str,
    *,
    metrics: dict[str, float] | None = None,
    window: str | None = WINDOW,
    **kwargs: Any,
) -> registry.RegisteredVersion:
    X, y = data
    return registry.log_training_run(
        model,
        task=Task.SUPPLIER_DELAY,
        name=name,
        features=FEATURES,
        X_test=X,
        y_test=y,
        params={"n_estimators": 30, "nested": {"a": 1}},
        metrics=metrics or GOOD,
        data_hash=registry.frame_hash(X),
        test_window=window,
        data_window="2022-01-01..2023-12-31",
        **kwargs,
    )


# ---------------------------------------------------------------------------- pure helpers


def test_model_names_per_task() -> None:
    assert registry.model_name(Task.SUPPLIER_DELAY) == "allotment-supplier-delay"
    assert registry.model_name("sla_breach") == "allotment-sla-breach"
    assert registry.model_name(Task.CHURN) == "allotment-churn"
    assert registry.model_name("my-telco-churn") == "my-telco-churn"


def test_frame_hash_is_stable_and_sensitive(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, _ = data
    h = registry.frame_hash(X)
    assert h == registry.frame_hash(X.copy())
    assert len(h) == 64
    changed = X.copy()
    changed["lead_days"] = changed["lead_days"].where(changed.index != 0, -1.0)
    assert registry.frame_hash(changed) != h
    assert registry.frame_hash(X.rename(columns={"lead_days": "lead"})) != h
    assert registry.frame_hash(X.iloc[::-1]) != h


def test_canonical_metrics_accepts_training_names() -> None:
    out = registry.canonical_metrics({"roc_auc": 0.8, "oracle_auc": 0.84, "logistic.roc_auc": 0.7})
    assert out["auc"] == 0.8
    assert out["baseline_logistic_auc"] == 0.7
    assert out["auc_oracle_ratio"] == pytest.approx(0.8 / 0.84)
    assert registry.canonical_metrics({"auc": 0.8, "oracle_auc": None}) == {"auc": 0.8}


def test_artifact_root_is_beside_a_sqlite_store(tmp_path: Path) -> None:
    assert registry.artifact_root(f"sqlite:///{tmp_path}/m.db") == tmp_path / "mlartifacts"
    assert registry.artifact_root("http://mlflow:5000") is None


def test_git_commit_outside_a_repository(tmp_path: Path) -> None:
    assert registry.git_commit(tmp_path) == "unknown"


def test_model_card_mentions_metrics_and_baselines() -> None:
    card = registry.model_card(
        name="allotment-churn",
        task="churn",
        metrics=registry.canonical_metrics(GOOD),
        data_window="2022..2023",
        test_window=WINDOW,
        data_hash="ab" * 32,
        commit="c0ffee",
        features=FEATURES,
    )
    for text in ("# Model card: allotment-churn", "0.8000", "0.7000", "0.8400", "Limitations"):
        assert text in card


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ([("on_time_rate", "double"), ("lead_days", "double")], "missing features ['ship_mode']"),
        (
            [
                ("on_time_rate", "double"),
                ("lead_days", "double"),
                ("ship_mode", "string"),
                ("x", "double"),
            ],
            "unexpected features ['x']",
        ),
        (
            [("on_time_rate", "double"), ("lead_days", "string"), ("ship_mode", "string")],
            "lead_days is string, expected numeric",
        ),
        (
            [("lead_days", "double"), ("on_time_rate", "double"), ("ship_mode", "string")],
            "feature order differs",
        ),
        ([], "no input signature"),
    ],
)
def test_check_signature_names_the_problem(inputs: list[tuple[str, str]], problem: str) -> None:
    with pytest.raises(ModelSignatureError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        registry.check_signature(inputs, FEATURES, label="m v1")


def test_check_signature_accepts_integer_numerics() -> None:
    inputs = [("on_time_rate", "double"), ("lead_days", "long"), ("ship_mode", "string")]
    registry.check_signature(inputs, FEATURES, label="m v1")


# ---------------------------------------------------------------------------- with a store


def test_store_is_the_configured_one(
    data: tuple[pd.DataFrame, pd.Series],
    lgbm: lgb.LGBMClassifier,
    name: str,
    store_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)  # a default store would appear here as ./models/mlflow.db
    assert registry.tracking_uri() == store_uri
    v = log(lgbm, data, name)
    assert not (tmp_path / "models").exists()
    assert not (tmp_path / "mlruns").exists()
    run = mlflow.get_run(v.run_id)
    store_dir = Path(store_uri.removeprefix("sqlite:///")).parent
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(store_dir)


def test_log_records_everything(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    import mlflow

    v = log(lgbm, data, name)
    assert v.version == 1
    assert v.model_uri == f"models:/{name}/1"
    run = mlflow.get_run(v.run_id)
    assert run.data.metrics["auc"] == 0.80
    assert run.data.metrics["logistic.roc_auc"] == 0.70
    assert run.data.metrics["baseline_logistic_auc"] == 0.70
    assert run.data.params["nested.a"] == "1"
    assert run.data.params["n_estimators"] == "30"
    assert len(run.data.tags["allotment.data_hash"]) == 64
    assert run.data.tags["allotment.git_commit"]
    assert json.loads(run.data.tags["allotment.feature_spec"]) == {
        k: v.value for k, v in FEATURES.items()
    }
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(v.run_id, "report")}
    assert files == {
        "report/calibration.png",
        "report/feature_importances.json",
        "report/model_card.md",
        "report/shap_summary.png",
        "report/shap_mean_abs.json",
    }
    report = registry.report_dir(name, 1)
    assert (report / "model_card.md").read_text().startswith(f"# Model card: {name}")
    assert (report / "calibration.png").stat().st_size > 1000
    mv = mlflow.MlflowClient().get_model_version(name, "1")
    assert mv.tags["allotment.auc"] == "0.8"
    assert mv.tags["allotment.test_window"] == WINDOW
    assert "Model card" in (mv.description or "")
    experiment = mlflow.get_experiment(run.info.experiment_id)
    assert experiment.name == "allotment-supplier-delay"


def test_non_tree_model_skips_shap_with_a_note(
    data: tuple[pd.DataFrame, pd.Series], logistic: Pipeline, name: str
) -> None:
    import mlflow

    v = log(logistic, data, name)
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(v.run_id, "report")}
    assert "report/shap_summary.txt" in files
    assert "report/shap_summary.png" not in files


def test_shap_values_add_up_to_the_log_odds(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier
) -> None:
    X, _ = data
    result = registry.shap_values(lgbm, X)
    assert result is not None
    values, names = result
    assert names == list(FEATURES)
    raw = lgbm.predict_proba(X, raw_score=True)
    contrib = np.asarray(lgbm.booster_.predict(X, pred_contrib=True))
    np.testing.assert_allclose(values.sum(axis=1) + contrib[:, -1], raw, atol=1e-6)


def test_round_trip_promote_and_load_champion(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    X, _ = data
    v = log(lgbm, data, name)
    result = registry.promote(name, v.version, actor="test:alice")
    assert result.decision.promote and not result.forced
    assert result.previous_champion is None
    loaded = registry.load_champion(name, FEATURES)
    assert (loaded.name, loaded.version, loaded.features) == (name, 1, FEATURES)
    np.testing.assert_array_equal(loaded.predict_proba(X), lgbm.predict_proba(X))
    # cached by (name, version): the second load is the same object
    assert registry.load_champion(name, FEATURES).model is loaded.model


def test_load_champion_refuses_a_signature_mismatch(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    v = log(lgbm, data, name)
    registry.promote(name, v.version, actor="test")
    renamed = {("ship_via" if k == "ship_mode" else k): kind for k, kind in FEATURES.items()}
    with pytest.raises(ModelSignatureError, match="missing features \\['ship_via'\\]"):
        registry.load_champion(name, renamed)
    retyped = {**FEATURES, "ship_mode": FeatureKind.NUMERIC}
    with pytest.raises(ModelSignatureError, match="ship_mode is string, expected numeric"):
        registry.load_champion(name, retyped)
    # the refusal also holds once the model is cached
    registry.load_champion(name, FEATURES)
    with pytest.raises(ModelSignatureError):
        registry.load_champion(name, renamed)


def test_no_champion_is_unavailable(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    with pytest.raises(ModelUnavailableError, match="no champion"):
        registry.load_champion(name, FEATURES)
    log(lgbm, data, name)  # registered, but nothing promoted yet
    with pytest.raises(ModelUnavailableError, match=f"no champion for {name}"):
        registry.load_champion(name, FEATURES)


def test_task_resolves_to_its_registered_name() -> None:
    with pytest.raises(ModelUnavailableError, match="allotment-churn"):
        registry.load_champion(Task.CHURN, FEATURES)


def test_gate_refuses_a_worse_challenger_and_promotes_a_better_one(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    log(lgbm, data, name)
    registry.promote(name, 1, actor="test")
    log(lgbm, data, name, metrics={**GOOD, "roc_auc": 0.7949})  # drop 0.0051
    with pytest.raises(ModelPromotionRefusedError) as info:
        registry.promote(name, 2, actor="test")
    assert any(r.startswith("fail: AUC 0.7949") for r in info.value.reasons)
    assert registry.load_champion(name, FEATURES).version == 1
    log(lgbm, data, name, metrics={**GOOD, "roc_auc": 0.795})  # drop exactly 0.005
    result = registry.promote(name, 3, actor="test")
    assert result.previous_champion == 1
    assert registry.load_champion(name, FEATURES).version == 3


def test_gate_refuses_high_ece_and_other_windows(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    log(lgbm, data, name)
    registry.promote(name, 1, actor="test")
    log(lgbm, data, name, metrics={**GOOD, "roc_auc": 0.9, "ece": 0.05})
    with pytest.raises(ModelPromotionRefusedError, match=r"ECE 0\.0500 > ceiling"):
        registry.promote(name, 2, actor="test")
    log(lgbm, data, name, metrics={**GOOD, "roc_auc": 0.9}, window="2024-04-01..2024-06-30")
    with pytest.raises(ModelPromotionRefusedError, match="different test windows"):
        registry.promote(name, 3, actor="test")


def test_first_version_must_beat_its_baseline(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    log(lgbm, data, name, metrics={**GOOD, "roc_auc": 0.70, "logistic.roc_auc": 0.72})
    with pytest.raises(ModelPromotionRefusedError, match="logistic baseline"):
        registry.promote(name, 1, actor="test")
    with pytest.raises(ModelUnavailableError):
        registry.load_champion(name, FEATURES)


def test_forced_promotion_needs_a_reason_and_is_recorded(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    import mlflow

    log(lgbm, data, name, metrics={**GOOD, "ece": 0.2})
    for reason in (None, "  "):
        with pytest.raises(ModelPromotionRefusedError, match="needs a reason"):
            registry.promote(name, 1, actor="test:bob", force=True, reason=reason)
    result = registry.promote(
        name, 1, actor="test:bob", force=True, reason="incident 42: old model broken"
    )
    assert result.forced and not result.decision.promote
    mv = mlflow.MlflowClient().get_model_version(name, "1")
    assert mv.aliases == ["champion"]
    assert mv.tags["allotment.promoted_by"] == "test:bob"
    assert mv.tags["allotment.promotion_forced"] == "true"
    assert mv.tags["allotment.promotion_reason"] == "incident 42: old model broken"
    assert mv.tags["allotment.promoted_at"]
    assert any("ECE" in r for r in json.loads(mv.tags["allotment.gate_reasons"]))
    assert "FORCED past the gate" in (mv.description or "")
    assert "incident 42" in (mv.description or "")


def test_force_on_a_passing_version_is_not_recorded_as_forced(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    log(lgbm, data, name)
    result = registry.promote(name, 1, actor="t", force=True, reason="just because")
    assert not result.forced


def test_promoting_the_champion_again_is_refused(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    log(lgbm, data, name)
    registry.promote(name, 1, actor="t")
    with pytest.raises(ModelPromotionRefusedError, match="already the champion"):
        registry.promote(name, 1, actor="t")


def test_unknown_version_is_not_found(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    log(lgbm, data, name)
    with pytest.raises(NotFoundError, match="no version 7"):
        registry.promote(name, 7, actor="t")


def test_rollback_restores_the_previous_champion(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    import mlflow

    for auc in (0.80, 0.81, 0.82):
        log(lgbm, data, name, metrics={**GOOD, "roc_auc": auc})
    for version in (1, 2, 3):
        registry.promote(name, version, actor="t")
    client = mlflow.MlflowClient()
    assert int(client.get_model_version_by_alias(name, "previous-champion").version) == 2

    back = registry.rollback(name, actor="test:carol", reason="v3 misbehaves")
    assert (back.from_version, back.to_version) == (3, 2)
    assert registry.load_champion(name, FEATURES).version == 2
    assert int(client.get_model_version_by_alias(name, "previous-champion").version) == 1
    assert client.get_model_version(name, "3").tags["allotment.rolled_back_from_by"] == "test:carol"

    assert registry.rollback(name, actor="t").to_version == 1
    with pytest.raises(ModelPromotionRefusedError, match="no previous champion"):
        registry.rollback(name, actor="t")
    assert registry.load_champion(name, FEATURES).version == 1


def test_rollback_without_champion(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    with pytest.raises(NotFoundError):
        registry.rollback(name, actor="t")
    log(lgbm, data, name)
    with pytest.raises(ModelUnavailableError):
        registry.rollback(name, actor="t")


def test_promote_with_eval_frame_compares_on_one_window(
    data: tuple[pd.DataFrame, pd.Series],
    lgbm: lgb.LGBMClassifier,
    logistic: Pipeline,
    name: str,
) -> None:
    X, y = data
    noise = clone(logistic)
    noise.fit(X, y.sample(frac=1.0, random_state=0).to_numpy())  # labels shuffled: AUC ~ 0.5
    log(lgbm, data, name)
    registry.promote(name, 1, actor="t")
    other = "2024-04-01..2024-06-30"
    log(lgbm, data, name, window=other)  # v2: the same model, logged on another window
    log(noise, data, name, window=other)  # v3: a useless model with the same logged metrics
    with pytest.raises(ModelPromotionRefusedError, match="different test windows"):
        registry.promote(name, 2, actor="t")
    lenient = GateConfig(ece_ceiling=1.0)  # only the AUC rule is under test here
    result = registry.promote(name, 2, actor="t", eval_frame=(X, y), config=lenient)
    assert any(r.startswith("pass: AUC") and "eval:" in r for r in result.reasons)
    with pytest.raises(ModelPromotionRefusedError, match="fail: AUC"):
        registry.promote(name, 3, actor="t", eval_frame=(X, y), config=lenient)


def test_list_models_rows(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    log(lgbm, data, name)
    log(lgbm, data, name, metrics={**GOOD, "roc_auc": 0.81})
    registry.promote(name, 1, actor="t")
    rows = registry.list_models(name)
    assert [(r.version, r.aliases) for r in rows] == [(2, ()), (1, ("champion",))]
    assert rows[1].auc == 0.80
    assert rows[1].oracle_auc == 0.84
    assert rows[1].auc_oracle_ratio == pytest.approx(0.80 / 0.84)
    assert rows[1].ece == 0.01
    assert rows[1].run_id
    assert name in {r.name for r in registry.list_models()}
    with pytest.raises(NotFoundError):
        registry.list_models("no-such-model")


def test_untrusted_types_are_refused_at_log_time(
    data: tuple[pd.DataFrame, pd.Series], name: str
) -> None:
    class Weird:  # a local class is outside the allow-list
        def predict_proba(self, X: pd.DataFrame) -> Any:
            return np.full((len(X), 2), 0.5)

    with pytest.raises(ValueError, match="outside the trusted allow-list"):
        log(Weird(), data, name)


def test_missing_artifacts_make_the_model_unavailable(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    import shutil

    import mlflow

    log(lgbm, data, name)
    registry.promote(name, 1, actor="t")
    shutil.rmtree(mlflow.artifacts.download_artifacts(f"models:/{name}/1"))
    with pytest.raises(ModelUnavailableError, match="cannot be read"):
        registry.load_champion(name, FEATURES)


def test_calibrated_pipeline_round_trip_with_shap(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    """The training shape: a calibrator around a frozen pipeline around LightGBM."""
    import mlflow
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    X, y = data
    model = CalibratedClassifierCV(
        FrozenEstimator(Pipeline([("model", lgbm)])), method="sigmoid"
    ).fit(X, y)
    assert registry.shap_values(model, X) is not None
    v = log(model, data, name)
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(v.run_id, "report")}
    assert "report/shap_summary.png" in files
    registry.promote(name, v.version, actor="t")
    loaded = registry.load_champion(name, FEATURES)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_companion_models_travel_with_their_version(
    data: tuple[pd.DataFrame, pd.Series], lgbm: lgb.LGBMClassifier, name: str
) -> None:
    X, y = data
    p90 = lgb.LGBMRegressor(
        objective="quantile", alpha=0.9, n_estimators=20, verbose=-1, n_jobs=1
    ).fit(X, y.astype(float) * 5)
    log(lgbm, data, name, companions={"days_late_p90": p90})
    log(lgbm, data, name)
    (loaded,) = registry.load_companions(name, 1).values()
    np.testing.assert_allclose(loaded.predict(X), p90.predict(X))
    assert registry.load_companions(name, 2) == {}
