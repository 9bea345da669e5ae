"""Tiny champions of all three tasks, trained on the tiny world's history, in a private store.

Beside the supplier-delay champion (v1) the store holds supplier-delay v2, trained on flipped
labels: a model that ranks PO lines backwards, so a test can promote it and see the blend's
decisions follow the models it reads.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd
import pytest

from allotment.cli.train import register_and_offer
from allotment.config import get_settings
from allotment.features.build import training_frame
from allotment.features.frame import Task
from allotment.modeling import registry
from allotment.modeling.config import default_config
from allotment.modeling.train import train_task
from allotment.simulation.engine import warm_world
from allotment.simulation.risks import world_tables

SEED = 3


def train_tiny_champions(root: Path) -> str:
    """Train and promote tiny models of every task into a store under ``root`` (and the
    inverted supplier-delay v2, not promoted); its URI."""
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", uri)
    get_settings.cache_clear()
    try:
        tables = world_tables(warm_world("tiny", SEED))
        for task, invert in (*((t, False) for t in Task), (Task.SUPPLIER_DELAY, True)):
            frame = training_frame(task, tables)
            if task is Task.CHURN:
                # tiny's 120 days leave churn no time window: split its rows by stratum.
                no_times = pd.Series(pd.NaT, index=frame.as_of.index, dtype="datetime64[ns]")
                frame = dataclasses.replace(frame, as_of=no_times)
            if invert:
                assert frame.y is not None
                frame = dataclasses.replace(frame, y=(1 - frame.y).astype(frame.y.dtype))
            config = default_config(task)
            # Few trees, small leaves: tiny models are meaningless, only their plumbing counts.
            quantiles = config.quantiles
            config = config.model_copy(
                update={
                    "lightgbm": config.lightgbm.model_copy(
                        update={"n_estimators": 20, "min_child_samples": 5}
                    ),
                    "quantiles": quantiles and quantiles.model_copy(update={"n_estimators": 20}),
                }
            )
            result = train_task(frame, config)
            out = register_and_offer(
                frame, result, actor="test", say=lambda _m: None, started=time.perf_counter()
            )
            if not out.champion and not invert:
                registry.promote(
                    out.model_name, out.version, actor="test", force=True, reason="tiny test"
                )
            elif out.champion and invert:
                # The gate judged it on its own (flipped) test labels: put v1 back.
                registry.rollback(out.model_name, actor="test", reason="v1 is the champion")
    finally:
        registry.clear_cache()
        mp.undo()
        get_settings.cache_clear()
    return uri
