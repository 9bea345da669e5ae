"""Natural keys: from table rows to the text keys files use, and back to ids.

A natural key is compared as one string: its parts as text, joined by a separator that never
occurs in our data (unit separator, U+001F). An int part ``3`` and a parsed cell ``"003"`` both
become ``"3"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Select, select
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.elements import ColumnElement

from allotment.io.entities import ENTITIES, EntitySpec

SEP = "\x1f"


def key_strings(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One string per row joining ``columns`` (rows with a missing part give a missing key)."""
    parts = [frame[c].astype(object) for c in columns]
    missing = pd.Series(False, index=frame.index)
    for part in parts:
        missing |= part.isna()
    text = parts[0].astype("str")
    for part in parts[1:]:
        text = text + SEP + part.astype("str")
    return text.mask(missing)


def describe_key(columns: Sequence[str], key: str) -> str:
    """``po_number='PO-1', po_line_no=3`` for messages."""
    values = key.split(SEP)
    return ", ".join(f"{c}={v!r}" for c, v in zip(columns, values, strict=True))


def key_select(spec: EntitySpec) -> Select[Any]:
    """SELECT of every row's id (as ``_id``) and its natural key under the file's column names.

    Key parts that are references are resolved through the referenced entity's own key, joined
    recursively (a PO line's key is its PO's number and its line number).
    """
    table = spec.table
    source: FromClause = table
    columns: list[ColumnElement[Any]] = [table.c.id.label("_id")] if spec.has_id else []
    joined: dict[str, Any] = {}
    for name in spec.key:
        ref = spec.reference_for(name)
        if ref is None:
            columns.append(table.c[name].label(name))
            continue
        if ref.db_column not in joined:
            target = ENTITIES[ref.entity]
            sub = key_select(target).subquery(f"k_{ref.db_column}")
            source = source.join(sub, sub.c._id == table.c[ref.db_column])
            joined[ref.db_column] = (sub, target)
        sub, target = joined[ref.db_column]
        position = ref.columns.index(name)
        columns.append(sub.c[target.key[position]].label(name))
    if not spec.has_id:
        columns.extend(table.c[c].label(f"_{c}") for c in spec.db_key)
    return select(*columns).select_from(source)


def load_key_ids(conn: Connection, spec: EntitySpec) -> dict[str, int]:
    """Key string -> id of every row of ``spec``'s table."""
    frame = pd.DataFrame(conn.execute(key_select(spec)).mappings().all())
    if frame.empty:
        return {}
    keys = key_strings(frame, spec.key)
    return dict(zip(keys.tolist(), frame["_id"].astype(int).tolist(), strict=True))


def load_keys(conn: Connection, spec: EntitySpec) -> set[str]:
    """Key strings of every row of ``spec``'s table."""
    rows = conn.execute(key_select(spec)).mappings().all()
    if not rows:
        return set()
    frame = pd.DataFrame(rows)
    return set(key_strings(frame, spec.key).tolist())
