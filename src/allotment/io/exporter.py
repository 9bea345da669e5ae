"""Export an entity's table to CSV or Parquet in the import format (our columns, natural keys).

An exported file imports back unchanged: money as decimal strings in CSV (``"1234.50"``) and as
``decimal128(18, 2)`` in Parquet, dates as ISO ``YYYY-MM-DD`` (``date32`` in Parquet), booleans
as ``true``/``false``, enums by value, references by the referenced entity's natural key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, Select, select
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.elements import ColumnElement

from allotment.db.engine import session_scope
from allotment.io.entities import ENTITIES, EntitySpec, Kind, get_spec
from allotment.io.keys import key_select
from allotment.io.reading import file_format

_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.STR: pa.string(),
    Kind.ENUM: pa.string(),
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.MONEY: pa.decimal128(18, 2),
    Kind.BOOL: pa.bool_(),
    Kind.DATE: pa.date32(),
}


def export_select(spec: EntitySpec) -> Select[Any]:
    """SELECT of every row of ``spec`` under the file's column names, in a stable order."""
    table = spec.table
    source: FromClause = table
    labelled: dict[str, ColumnElement[Any]] = {}
    for ref in spec.references:
        target = ENTITIES[ref.entity]
        sub = key_select(target).subquery(f"x_{ref.db_column}")
        source = source.join(sub, sub.c._id == table.c[ref.db_column], isouter=not ref.required)
        for position, name in enumerate(ref.columns):
            labelled[name] = sub.c[target.key[position]].label(name)
    columns = [
        labelled[c.name] if c.name in labelled else table.c[c.name].label(c.name)
        for c in spec.columns
    ]
    order = [table.c.id] if spec.has_id else [table.c[c] for c in spec.db_key]
    return select(*columns).select_from(source).order_by(*order)


def export_entity(engine: Engine, entity: str, path: Path) -> int:
    """Write every row of ``entity`` to ``path`` (CSV or Parquet by extension).

    Returns
    -------
    int
        The number of rows written.
    """
    spec = get_spec(entity)
    kind = file_format(path)
    # A read-only session: on SQLite it does not take the write lock an import would wait on.
    with session_scope(engine, readonly=True) as session:
        rows = session.execute(export_select(spec)).all()
    frame = pd.DataFrame(
        {
            c.name: pd.Series([row[i] for row in rows], dtype=object)
            for i, c in enumerate(spec.columns)
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        _write_parquet(spec, frame, path)
    else:
        _write_csv(spec, frame, path)
    return len(frame)


def _cell_text(value: Any, kind: Kind) -> str:
    if value is None:
        return ""
    if kind is Kind.BOOL:
        return "true" if value else "false"
    if kind is Kind.DATE:
        return str(value.isoformat())
    if kind is Kind.ENUM:
        return str(getattr(value, "value", value))
    if kind is Kind.FLOAT:
        return repr(float(value))
    return str(value)  # Decimal keeps its two places: Decimal("1234.50") -> "1234.50"


def _write_csv(spec: EntitySpec, frame: pd.DataFrame, path: Path) -> None:
    text = pd.DataFrame(
        {c.name: [_cell_text(v, c.kind) for v in frame[c.name]] for c in spec.columns},
        dtype=object,
    )
    text.to_csv(path, index=False, lineterminator="\n")


def _write_parquet(spec: EntitySpec, frame: pd.DataFrame, path: Path) -> None:
    arrays = []
    for column in spec.columns:
        values = frame[column.name].tolist()
        if column.kind is Kind.ENUM:
            values = [None if v is None else str(getattr(v, "value", v)) for v in values]
        arrays.append(pa.array(values, type=_ARROW_TYPES[column.kind]))
    table = pa.Table.from_arrays(arrays, names=spec.column_names)
    pq.write_table(table, path)
