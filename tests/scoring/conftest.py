"""The tiny world with trained tiny champions (see :mod:`tests.scoring.champions`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from allotment.config import get_settings
from allotment.world.generate import generate
from tests.scoring.champions import SEED, tiny_champions_uri


@pytest.fixture(scope="session")
def tiny_champions(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URI of an MLflow store with tiny sla_breach and supplier_delay champions."""
    return tiny_champions_uri(tmp_path_factory.getbasetemp() / "tiny_champions")


@pytest.fixture
def tiny_world(
    tiny_champions: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Engine:
    """The same tiny world in the test database (both backends), served by the champions."""
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", tiny_champions)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    get_settings.cache_clear()
    generate(engine, scale="tiny", seed=SEED)
    return engine
