"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests use a private schema in the database named by ``ALLOTMENT_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``). Without a reachable server they are
skipped with the reason shown, except under ``CI=true``, where an unreachable server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session

from allotment.config import get_settings, normalize_database_url
from allotment.db import migrate
from allotment.db.engine import make_engine, make_sessionmaker
from allotment.domain.models import AuditRecord, Base
from tests.audit.lift import append_only_lifted

POSTGRES_URL = os.environ.get(
    "ALLOTMENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_available() -> str | None:
    """None when the server answers, else the reason it does not."""
    engine = create_engine(normalize_database_url(POSTGRES_URL))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any failure to connect means "not available"
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc.__class__.__name__}: {exc}"
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point every command at a temporary data folder and model store (tests may override)."""
    monkeypatch.setenv("ALLOTMENT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("ALLOTMENT_DATABASE_URL", raising=False)
    # Never train into the repository's models/ store.
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # Rich wraps command output at the terminal width; a long temporary path must not split
    # the words a test looks for.
    monkeypatch.setenv("COLUMNS", "240")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _truncate_all(engine: Engine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # TRUNCATE costs a new file per table (~0.5 s for all of them): empty only the
            # tables that hold rows, then restart every sequence of the schema.
            probe = " UNION ALL ".join(
                f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM {t.name})" for t in tables
            )
            filled = list(conn.execute(text(probe)).scalars())
            if filled:
                # Always lifted: CASCADE reaches audit_records from policy_versions even when
                # the audit table itself is empty, and its TRUNCATE trigger fires regardless.
                with append_only_lifted(conn):
                    conn.execute(text(f"TRUNCATE {', '.join(filled)} CASCADE"))
            conn.execute(
                text(
                    "SELECT setval(c.oid, 1, false) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                )
            )
        else:
            # The audit table refuses DELETE; lifting drops and recreates its triggers, so
            # only when it holds rows.
            audited = conn.execute(select(AuditRecord.id).limit(1)).first() is not None
            with append_only_lifted(conn) if audited else nullcontext():
                for table in tables:
                    conn.execute(table.delete())


@pytest.fixture(scope="session")
def _sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield url, engine
    engine.dispose()


@pytest.fixture(scope="session")
def _postgresql_engine() -> Iterator[tuple[str, Engine]]:
    reason = _postgres_available()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    schema = f"allotment_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_database_url(POSTGRES_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        yield url, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated, empty database on each backend; also set as ``ALLOTMENT_DATABASE_URL``."""
    url, engine = request.getfixturevalue(f"_{request.param}_engine")
    monkeypatch.setenv("ALLOTMENT_DATABASE_URL", url)
    get_settings.cache_clear()
    _truncate_all(engine)  # before, not after: the next test empties what this one left
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose commits are the test's to make; closed (and rolled back) afterwards."""
    sess = make_sessionmaker(engine)()
    yield sess
    sess.rollback()
    sess.close()
