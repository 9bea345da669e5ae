"""training/search_hyperparams.py: seeded, validation-only hyperparameter search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from allotment.features.frame import Task, TaskFrame
from allotment.modeling.config import TrainConfig, load_config
from allotment.modeling.train import make_split
from tests.modeling.synthetic import make_frame
from tests.training.scripts import load_script

sh = load_script("search_hyperparams")


@pytest.fixture(scope="module")
def frame() -> TaskFrame:
    return make_frame(n=1500, seed=3, task=Task.CHURN, with_days_late=False)


@pytest.fixture(scope="module")
def base() -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "task": "churn",
            "seed": 7,
            "imbalance": "sqrt",
            "early_stopping_rounds": 20,
            "lightgbm": {"n_estimators": 200, "learning_rate": 0.1, "num_threads": 1},
        }
    )


def test_sampled_params_are_seeded_and_in_the_space(base: TrainConfig) -> None:
    a = sh.candidate_configs(base, 5, seed=1)
    b = sh.candidate_configs(base, 5, seed=1)
    c = sh.candidate_configs(base, 5, seed=2)
    assert [x.lightgbm for x in a] == [x.lightgbm for x in b]
    assert [x.lightgbm for x in a[1:]] != [x.lightgbm for x in c[1:]]
    assert a[0] == base  # trial 0 is the starting config
    for config in a[1:]:
        values = sh.searched_params(config)
        for name, (dist, low, high) in sh.SPACE.items():
            assert low <= values[name] <= high, name
            if dist == "logint":
                assert isinstance(values[name], int)
        # everything outside the space is kept
        assert config.lightgbm.n_estimators == 200
        assert config.imbalance == base.imbalance and config.split == base.split


def test_search_runs_and_is_reproducible(frame: TaskFrame, base: TrainConfig) -> None:
    lines: list[str] = []
    first = sh.search(frame, base, n_trials=2, seed=0, report=lines.append)
    second = sh.search(frame, base, n_trials=2, seed=0)
    assert len(first) == 3 and len(lines) == 3
    assert lines[0].startswith("trial default:") and lines[2].startswith("trial 2/2:")
    for a, b in zip(first, second, strict=True):
        assert a.config == b.config
        assert a.valid_auc == pytest.approx(b.valid_auc, abs=1e-12)
        assert a.valid_log_loss == pytest.approx(b.valid_log_loss, abs=1e-12)
    for t in first:
        assert 0.5 < t.valid_auc <= 1.0
        assert 0.0 < t.valid_log_loss < 1.0
    best = sh.select_best(first)
    table = sh.trials_table(first, best)
    assert "valid AUC" in table and f"{best.valid_auc:.4f}" in table


def test_best_config_round_trips_through_load_config(
    frame: TaskFrame, base: TrainConfig, tmp_path: Path
) -> None:
    best = sh.select_best(sh.search(frame, base, n_trials=2, seed=5))
    path = tmp_path / "churn.tuned.yaml"
    sh.write_config(best.config, path, comment="tuned\nsecond line")
    assert path.read_text().startswith("# tuned\n# second line\n")
    assert load_config(path) == best.config
    # also with dates in the split and monotone constraints
    rich = base.model_copy(
        update={
            "split": base.split.model_validate(
                {"valid_start": "2024-09-01", "test_start": "2025-03-01", "embargo_days": 30}
            ),
            "monotone_constraints": {"sup_ontime_rate_90d": -1},
        }
    )
    sh.write_config(rich, path)
    assert load_config(path) == rich


def _poisoned(frame: TaskFrame, config: TrainConfig) -> TaskFrame:
    """``frame`` with its test labels (and oracle) replaced by garbage."""
    test = make_split(frame, config).test
    y = pd.Series(frame.y).to_numpy().copy()
    y[test] = 1 - y[test]
    y[test[::3]] = 1
    oracle = pd.Series(frame.oracle).to_numpy().copy()
    oracle[test] = np.nan
    return TaskFrame(
        task=frame.task,
        X=frame.X,
        features=frame.features,
        ids=frame.ids,
        as_of=frame.as_of,
        y=pd.Series(y),
        extra_targets=frame.extra_targets,
        oracle=pd.Series(oracle),
    )


def test_selection_never_reads_test_labels(frame: TaskFrame, base: TrainConfig) -> None:
    clean = sh.search(frame, base, n_trials=3, seed=11)
    dirty = sh.search(_poisoned(frame, base), base, n_trials=3, seed=11)
    assert sh.select_best(clean).number == sh.select_best(dirty).number
    for a, b in zip(clean, dirty, strict=True):
        assert a.valid_auc == b.valid_auc
        assert a.valid_log_loss == b.valid_log_loss


def test_select_best_prefers_auc_then_log_loss(base: TrainConfig) -> None:
    def trial(n: int, auc: float, ll: float) -> Any:
        return sh.Trial(n, base, {}, auc, ll, 10, 0.0)

    assert sh.select_best([trial(0, 0.8, 0.3), trial(1, 0.81, 0.5)]).number == 1
    assert sh.select_best([trial(0, 0.8, 0.3), trial(1, 0.8, 0.2)]).number == 1
    assert sh.select_best([trial(0, 0.8, 0.3), trial(1, 0.8, 0.3)]).number == 0
    with pytest.raises(sh.SearchError):
        sh.select_best([])


def test_cli_writes_a_loadable_config(
    frame: TaskFrame,
    base: TrainConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_path = tmp_path / "base.yaml"
    sh.write_config(base, config_path)
    monkeypatch.setattr(sh, "load_frame", lambda task: frame)
    out = tmp_path / "out.yaml"
    argv = ["--task", "churn", "--trials", "2", "--config", str(config_path), "--out", str(out)]
    assert sh.main(argv) == 0
    printed = capsys.readouterr().out
    assert "held-out test metrics" in printed and "default" in printed
    assert load_config(out).task == Task.CHURN
