"""Fixtures for import/export tests: files in a temporary folder, database dumps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from allotment.domain.models import Base
from allotment.io import ImportSource, import_files
from tests.io.factories import Row, world, write_csv

Dump = dict[str, list[tuple[Any, ...]]]


def dump_tables(engine: Engine) -> Dump:
    """Every row of every table, ordered by primary key: equal dumps mean an unchanged DB."""
    out: Dump = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out


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
