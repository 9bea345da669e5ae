"""Whole-database snapshots: equal dumps mean an unchanged database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from allotment.domain.models import Base

Dump = dict[str, list[tuple[Any, ...]]]


def dump_tables(engine: Engine) -> Dump:
    """Every row of every table as Python values, ordered by primary key."""
    out: Dump = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out
