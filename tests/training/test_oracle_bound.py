"""training/oracle_bound.py: the part of the oracle AUC the features can carry."""

from __future__ import annotations

import dataclasses

import pytest

from allotment.features.frame import Task, TaskFrame
from allotment.modeling.config import TrainConfig
from allotment.modeling.train import make_split
from tests.modeling.synthetic import make_frame
from tests.training.scripts import load_script

ob = load_script("oracle_bound")


@pytest.fixture(scope="module")
def frame() -> TaskFrame:
    return make_frame(n=6000, seed=11, task=Task.CHURN, with_days_late=False)


@pytest.fixture(scope="module")
def config() -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "task": "churn",
            "seed": 7,
            "early_stopping_rounds": 30,
            "lightgbm": {"n_estimators": 400, "learning_rate": 0.05, "num_threads": 1},
        }
    )


def test_features_that_carry_the_oracle_reach_it(frame: TaskFrame, config: TrainConfig) -> None:
    bound = ob.observable_bound(frame, config)
    assert bound.oracle_r2 > 0.8
    assert bound.observable_ratio > 0.97
    assert bound.test_rows == len(make_split(frame, config).test)


def test_a_hidden_driver_lowers_the_bound(frame: TaskFrame, config: TrainConfig) -> None:
    # qty_ratio drives the truth (a threshold and a sine) but is withheld from the features.
    hidden = dataclasses.replace(
        frame,
        X=frame.X.drop(columns=["qty_ratio"]),
        features={k: v for k, v in frame.features.items() if k != "qty_ratio"},
    )
    full = ob.observable_bound(frame, config)
    partial = ob.observable_bound(hidden, config)
    assert partial.oracle_r2 < full.oracle_r2 - 0.2
    assert partial.observable_auc < full.observable_auc - 0.02
    assert partial.oracle_auc == pytest.approx(full.oracle_auc)  # same rows, same truth


def test_real_data_without_an_oracle_is_refused(frame: TaskFrame, config: TrainConfig) -> None:
    with pytest.raises(ob.BoundError, match="no oracle"):
        ob.observable_bound(dataclasses.replace(frame, oracle=None), config)
