"""Training configs: the shipped defaults load; mistakes are named by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from allotment.features.frame import Task
from allotment.modeling.config import TrainConfig, TrainConfigError, default_config, load_config


@pytest.mark.parametrize("task", list(Task))
def test_shipped_defaults_load(task: Task) -> None:
    config = default_config(task)
    assert config.task == task
    assert config.lightgbm.num_threads == 2


def test_supplier_delay_default_has_days_late_quantiles() -> None:
    quantiles = default_config(Task.SUPPLIER_DELAY).quantiles
    assert quantiles is not None
    assert quantiles.alphas == (0.5, 0.9) and quantiles.target == "days_late"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_nested_key_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "task: churn\nlightgbm:\n  num_leavs: 7\n")
    with pytest.raises(TrainConfigError) as err:
        load_config(path)
    assert str(path) in err.value.message
    assert "unknown key 'lightgbm.num_leavs'" in err.value.message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(TrainConfigError, match="unknown key 'learning_rate'"):
        load_config(_write(tmp_path, "task: churn\nlearning_rate: 0.1\n"))


def test_bad_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(TrainConfigError, match="calibration"):
        load_config(_write(tmp_path, "task: churn\ncalibration: beta\n"))
    with pytest.raises(TrainConfigError, match="split"):
        load_config(_write(tmp_path, "task: churn\nsplit: {valid_start: 2024-01-01}\n"))
    with pytest.raises(TrainConfigError, match="task"):
        load_config(_write(tmp_path, "task: weather\n"))


def test_unreadable_or_non_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(TrainConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(TrainConfigError, match="mapping"):
        load_config(_write(tmp_path, "- a\n- b\n"))
    with pytest.raises(TrainConfigError, match="YAML"):
        load_config(_write(tmp_path, "task: [churn\n"))


def test_default_config_checks_the_task(tmp_path: Path) -> None:
    (tmp_path / "churn.yaml").write_text("task: sla_breach\n", encoding="utf-8")
    with pytest.raises(TrainConfigError, match="expected 'churn'"):
        default_config("churn", config_dir=tmp_path)


def test_split_dates_parse() -> None:
    config = TrainConfig.model_validate(
        {"task": "churn", "split": {"valid_start": "2024-06-01", "test_start": "2024-09-01"}}
    )
    assert config.split.valid_start is not None and config.split.valid_start.month == 6


@pytest.mark.parametrize("task", list(Task))
def test_default_monotone_constraints_name_numeric_features_of_the_task(task: Task) -> None:
    from allotment.features.registry import feature_kinds
    from allotment.modeling.pipelines import monotone_vector

    config = default_config(task)
    monotone_vector(feature_kinds(task), config.monotone_constraints)  # raises when invalid


def test_churn_embargo_covers_the_label_horizon() -> None:
    from allotment.features.registry import CHURN_HORIZON_DAYS

    assert default_config(Task.CHURN).split.embargo_days >= CHURN_HORIZON_DAYS
