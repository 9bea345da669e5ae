"""Migration 0010 builds exactly what the models declare for the outbox and escalation levels."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from allotment.db import migrate
from allotment.domain.models import Base

TABLES = {"notifications", "backorder_escalations"}


def _about_our_tables(diff: object) -> bool:
    text = repr(diff)
    return any(name in text for name in TABLES)


def test_the_migrated_tables_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _about_our_tables(d)]
    assert diffs == []


def test_0010_downgrades_and_upgrades_again(engine: Engine) -> None:
    try:
        migrate.downgrade(engine, "0007")
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
        assert not TABLES & names
    finally:  # the session's database must end at head whatever happened
        migrate.upgrade(engine)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) >= TABLES
