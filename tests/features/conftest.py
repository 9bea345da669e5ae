"""Fixtures for feature tests: a tiny synthetic world, generated once, as loaded tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from allotment.config import get_settings
from allotment.db import migrate
from allotment.db.engine import make_engine
from allotment.features import Tables, load_tables
from allotment.world.generate import GenerateSummary, generate

TINY_SEED = 11


def generate_tiny(engine: Engine, seed: int = TINY_SEED) -> GenerateSummary:
    """The tiny world every feature test uses (a few seconds on either backend)."""
    return generate(engine, scale="tiny", seed=seed)


@pytest.fixture(scope="session")
def tiny_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Tables, GenerateSummary]]:
    """The tiny world in a private SQLite file, loaded once for the read-only frame tests."""
    root = tmp_path_factory.mktemp("tiny_world")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALLOTMENT_DATA_DIR", str(root / "var"))
        get_settings.cache_clear()
        engine = make_engine(f"sqlite:///{Path(root) / 'tiny.db'}")
        try:
            migrate.upgrade(engine)
            summary = generate_tiny(engine)
            tables = load_tables(engine)
        finally:
            engine.dispose()
            get_settings.cache_clear()
    yield tables, summary


@pytest.fixture(scope="session")
def tiny_tables(tiny_world: tuple[Tables, GenerateSummary]) -> Tables:
    return tiny_world[0]
