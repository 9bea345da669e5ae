"""Fixtures for import/export tests: files in a temporary folder, database dumps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from allotment.io import ImportSource, import_files
from tests.dumps import Dump, dump_tables
from tests.io.factories import Row, world, write_csv


@pytest.fixture
def dump(engine: Engine) -> Callable[[], Dump]:
    return lambda: dump_tables(engine)


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[..., Path]:
    """``csv_file("customers", rows)`` writes ``customers.csv`` and returns its path."""

    def make(name: str, rows: list[Row], *, columns: list[str] | None = None) -> Path:
        return write_csv(tmp_path / f"{name}.csv", rows, columns=columns)

    return make


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Engine:
    """The database holding the small world of :func:`tests.io.factories.world`."""
    folder = tmp_path / "seed"
    folder.mkdir()
    sources = [
        ImportSource(entity, write_csv(folder / f"{entity}.csv", rows))
        for entity, rows in world().items()
    ]
    import_files(engine, sources)
    return engine
