"""Bring your own data: mapping, typed frame, leakage guard, clear errors, CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml  # type: ignore[import-untyped]
from typer.testing import CliRunner, Result

from allotment.cli.main import app
from allotment.config import get_settings
from allotment.features.frame import FeatureKind, Task
from allotment.modeling import registry
from allotment.modeling.byod import (
    DataMappingError,
    UserDataError,
    leakage_warnings,
    load_mapping,
    load_user_frame,
)
from allotment.modeling.config import CONFIG_DIR

runner = CliRunner()
TELCO_SAMPLE = Path(__file__).parents[1] / "io" / "data" / "telco_customers_sample.csv"
TELCO_MAPPING = CONFIG_DIR / "examples" / "telco_churn.yaml"


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    return tmp_path


def _synthetic(*, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small churn-like table: risk grows with ``usage`` falling and on the ``monthly`` plan."""
    rng = np.random.default_rng(seed)
    usage = rng.normal(10, 3, n)
    plan = rng.choice(["monthly", "yearly"], n)
    logit = -0.4 * (usage - 10) + np.where(plan == "monthly", 0.8, -0.8)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "cust": [f"C{i:04d}" for i in range(n)],
            "usage": usage.round(2),
            "plan": plan,
            "region": rng.choice(["north", "south", "east"], n),
            "left": np.where(churned, "yes", "no"),
        }
    )


def _mapping(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "model_name": "acme-churn",
        "task": "churn",
        "id": "cust",
        "target": "left",
        "positive": "yes",
        "negative": "no",
        "features": {"usage": "numeric", "plan": "categorical", "region": "categorical"},
        "lightgbm": {"n_estimators": 200, "min_child_samples": 10, "num_leaves": 7},
        "early_stopping_rounds": 20,
    }
    base.update(overrides)
    return base


def _write(tmp_path: Path, table: pd.DataFrame, mapping: dict[str, object]) -> tuple[Path, Path]:
    data, spec = tmp_path / "table.csv", tmp_path / "mapping.yaml"
    table.to_csv(data, index=False)
    spec.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return data, spec


def _train(data: Path, spec: Path, *extra: str) -> Result:
    return runner.invoke(
        app, ["train", "--task", "churn", "--data", str(data), "--mapping", str(spec), *extra]
    )


def test_telco_mapping_types_the_sample() -> None:
    mapping = load_mapping(TELCO_MAPPING)
    frame = load_user_frame(TELCO_SAMPLE, mapping)
    assert mapping.model_name == "telco-churn" and frame.task == Task.CHURN
    assert len(frame) == 300 and "customerID" not in frame.X.columns
    assert frame.ids.iloc[0] == "7590-VHVEG"
    for name, kind in frame.features.items():
        expected = "float64" if kind == FeatureKind.NUMERIC else "category"
        assert str(frame.X[name].dtype) == expected, name
    assert frame.y is not None and set(frame.y.unique()) == {0, 1}
    assert frame.as_of.isna().all(), "no time column: training uses the stratified split"


def test_blank_numeric_is_missing_and_text_is_an_error(tmp_path: Path) -> None:
    table = _synthetic(n=20).astype({"usage": "object"})
    table.loc[3, "usage"] = ""
    data, spec = _write(tmp_path, table, _mapping())
    frame = load_user_frame(data, load_mapping(spec))
    assert np.isnan(frame.X["usage"].iloc[3])

    table.loc[5, "usage"] = "n/a"
    data, spec = _write(tmp_path, table, _mapping())
    with pytest.raises(UserDataError) as err:
        load_user_frame(data, load_mapping(spec))
    # header is line 1, so the 6th record (index 5) is on line 7
    assert "table.csv row 7" in err.value.message and "'usage'" in err.value.message


def test_target_outside_the_labels_names_the_rows(tmp_path: Path) -> None:
    table = _synthetic(n=20)
    table.loc[2, "left"] = "maybe"
    data, spec = _write(tmp_path, table, _mapping())
    with pytest.raises(UserDataError, match=r"table.csv row 4, column 'left'.*'maybe'"):
        load_user_frame(data, load_mapping(spec))


def test_a_planted_leak_and_a_target_named_column_are_warned(tmp_path: Path) -> None:
    table = _synthetic()
    rng = np.random.default_rng(1)
    flip = rng.random(len(table)) < 0.005  # < 1% noise
    table["signal"] = np.where((table["left"] == "yes") ^ flip, 1.0, 0.0)
    table["left_flag"] = rng.normal(size=len(table))  # harmless values, suspicious name
    features = {**_mapping()["features"], "signal": "numeric", "left_flag": "numeric"}  # type: ignore[dict-item]
    data, spec = _write(tmp_path, table, _mapping(features=features))
    mapping = load_mapping(spec)
    warnings = {
        w.column: w for w in leakage_warnings(load_user_frame(data, mapping), target_name="left")
    }
    assert set(warnings) == {"signal", "left_flag"}
    assert warnings["signal"].auc >= 0.98 and "signal" in str(warnings["signal"])
    assert warnings["left_flag"].auc < 0.7 and "looks like the target" in str(warnings["left_flag"])


def test_high_cardinality_category_is_not_mistaken_for_a_leak(tmp_path: Path) -> None:
    table = _synthetic()
    table["code"] = table["cust"]  # unique per row: in-sample rates would score AUC 1
    features = {**_mapping()["features"], "code": "categorical"}  # type: ignore[dict-item]
    data, spec = _write(tmp_path, table, _mapping(features=features))
    frame = load_user_frame(data, load_mapping(spec))
    assert leakage_warnings(frame, target_name="left") == []


def test_strict_refuses_a_leak_without_logging(tmp_path: Path, mlflow_store: Path) -> None:
    table = _synthetic()
    table["signal"] = table["left"].map({"yes": 1.0, "no": 0.0})
    features = {**_mapping()["features"], "signal": "numeric"}  # type: ignore[dict-item]
    data, spec = _write(tmp_path, table, _mapping(features=features))
    result = _train(data, spec, "--strict")
    assert result.exit_code == 1, result.output
    assert "signal" in result.output and "refused" in result.output
    assert registry.list_models() == []


def test_end_to_end_registers_the_mappings_model_name(tmp_path: Path, mlflow_store: Path) -> None:
    data, spec = _write(tmp_path, _synthetic(), _mapping())
    result = _train(data, spec, "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["trained"]
    assert run["model_name"] == "acme-churn" and run["version"] == 1
    assert run["metrics"]["auc"] > 0.6
    assert run["rows"] == {"train": 240, "valid": 80, "test": 80}
    assert [(m.name, m.version) for m in registry.list_models()] == [("acme-churn", 1)]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"colour": "blue"}, "'colour'"),
        ({"features": {"usage": "numeric", "plan": "nominal"}}, "features.plan"),
        ({"target": "gone"}, "'gone'"),
        ({"positive": True}, "positive"),
    ],
    ids=["unknown-key", "bad-feature-kind", "missing-target-column", "yaml-boolean-label"],
)
def test_malformed_mapping_exits_2_naming_file_and_key(
    tmp_path: Path, mlflow_store: Path, change: dict[str, object], named: str
) -> None:
    data, spec = _write(tmp_path, _synthetic(n=30), _mapping(**change))
    result = _train(data, spec)
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # rich may wrap long lines
    assert named in output
    assert ("mapping.yaml" in output) or ("table.csv" in output)
    assert "Traceback" not in result.output


def test_missing_column_error_names_the_file_and_column(tmp_path: Path) -> None:
    data, spec = _write(tmp_path, _synthetic(n=30), _mapping(ignore=["notes"]))
    with pytest.raises(DataMappingError, match=r"table.csv.*'notes'"):
        load_user_frame(data, load_mapping(spec))


def test_data_needs_mapping(tmp_path: Path) -> None:
    data, _ = _write(tmp_path, _synthetic(n=30), _mapping())
    result = runner.invoke(app, ["train", "--data", str(data)])
    assert result.exit_code == 2
    assert "--mapping" in result.output


def test_task_must_match_the_mapping(tmp_path: Path) -> None:
    data, spec = _write(tmp_path, _synthetic(n=30), _mapping())
    result = runner.invoke(
        app, ["train", "--task", "sla_breach", "--data", str(data), "--mapping", str(spec)]
    )
    assert result.exit_code == 2
    assert "'churn'" in result.output and "'sla_breach'" in result.output


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    table = _synthetic(n=40)
    data, spec = _write(tmp_path, table, _mapping())
    table.to_parquet(tmp_path / "table.parquet", index=False)
    from_csv = load_user_frame(data, load_mapping(spec))
    from_parquet = load_user_frame(tmp_path / "table.parquet", load_mapping(spec))
    pd.testing.assert_frame_equal(from_csv.X, from_parquet.X)
    assert from_parquet.y is not None and from_csv.y is not None
    assert from_parquet.y.tolist() == from_csv.y.tolist()


def test_columns_neither_used_nor_ignored_are_named(tmp_path: Path) -> None:
    table = _synthetic(n=30).assign(notes="x", segment="a")
    data, spec = _write(tmp_path, table, _mapping(ignore=["notes"]))
    notices: list[str] = []
    frame = load_user_frame(data, load_mapping(spec), notice=notices.append)
    assert "segment" not in frame.X.columns
    (notice,) = notices
    assert "table.csv" in notice and "['segment']" in notice and "notes" not in notice


def test_a_fully_mapped_file_gets_no_notice(tmp_path: Path) -> None:
    data, spec = _write(tmp_path, _synthetic(n=30), _mapping())
    notices: list[str] = []
    load_user_frame(data, load_mapping(spec), notice=notices.append)
    assert notices == []
