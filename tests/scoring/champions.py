"""Tiny champions trained once per test session, shared by every test package that needs them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from allotment.cli.train import register_and_offer
from allotment.config import get_settings
from allotment.db import migrate
from allotment.db.engine import make_engine
from allotment.features.build import training_frame
from allotment.features.frame import Task
from allotment.features.tables import load_tables
from allotment.modeling import registry
from allotment.modeling.config import default_config
from allotment.modeling.train import train_task
from allotment.world.generate import generate

SEED = 3
_TRAINED: dict[Path, str] = {}


def tiny_champions_uri(root: Path) -> str:
    """An MLflow store under ``root`` with tiny champions of sla_breach and supplier_delay.

    Trained once per process (tiny's 120 days leave churn no training window, so churn has no
    champion). Returns the store's URI.
    """
    if root in _TRAINED:
        return _TRAINED[root]
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", uri)
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    get_settings.cache_clear()
    try:
        engine = make_engine(f"sqlite:///{root / 'world.db'}")
        migrate.upgrade(engine)
        generate(engine, scale="tiny", seed=SEED)
        tables = load_tables(engine)
        engine.dispose()
        for task in (Task.SLA_BREACH, Task.SUPPLIER_DELAY):
            frame = training_frame(task, tables)
            config = default_config(task)
            # Few trees: tiny models are meaningless, only their plumbing is under test.
            quantiles = config.quantiles
            config = config.model_copy(
                update={
                    "lightgbm": config.lightgbm.model_copy(update={"n_estimators": 30}),
                    "quantiles": quantiles and quantiles.model_copy(update={"n_estimators": 30}),
                }
            )
            result = train_task(frame, config)
            out = register_and_offer(
                frame, result, actor="test", say=lambda _m: None, started=time.perf_counter()
            )
            if not out.champion:
                registry.promote(
                    out.model_name, out.version, actor="test", force=True, reason="tiny test"
                )
    finally:
        registry.clear_cache()
        mp.undo()
        get_settings.cache_clear()
    _TRAINED[root] = uri
    return uri
