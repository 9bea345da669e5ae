"""Export writes the import format: export -> import round-trips to the same rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from allotment.domain.models import Base
from allotment.io import ENTITIES, ImportSource, export_entity, import_files


def _export_all(engine: Engine, folder: Path, suffix: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}{suffix}" for name in ENTITIES}
    for name, path in paths.items():
        export_entity(engine, name, path)
    return paths


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_import_round_trip(seeded: Engine, tmp_path: Path, suffix: str) -> None:
    first = _export_all(seeded, tmp_path / "first", suffix)
    again = import_files(seeded, [ImportSource(n, p) for n, p in first.items()])
    assert all(r.unchanged == r.rows and r.inserted == r.updated == 0 for r in again)

    _wipe(seeded)
    restored = import_files(seeded, [ImportSource(n, p) for n, p in first.items()])
    assert sum(r.inserted for r in restored) == sum(r.rows for r in restored) > 0
    second = _export_all(seeded, tmp_path / "second", suffix)
    for name in ENTITIES:
        if suffix == ".csv":
            assert second[name].read_bytes() == first[name].read_bytes(), name
        else:
            assert pq.read_table(second[name]).equals(pq.read_table(first[name])), name


def test_csv_export_uses_natural_keys_and_plain_text(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "order_lines.csv"
    assert export_entity(seeded, "order_lines", path) == 2
    assert path.read_text().splitlines() == [
        "order_number,line_no,sku,quantity,unit_price,shipped_quantity,po_number,po_line_no,"
        "status,shipped_on",
        "SO-1,1,P-1,40,1.50,0,PO-1,1,open,",
        "SO-2,1,P-1,3,1.50,0,,,open,",
    ]
    contracts = tmp_path / "contracts.csv"
    export_entity(seeded, "contracts", contracts)
    assert contracts.read_text().splitlines()[1] == (
        "C-1,1,5,0.95,0.005,0.1,true,false,2024-01-01,,2025-01-01"
    )
