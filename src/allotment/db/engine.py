"""Engines and sessions.

SQLite is the embedded default: WAL journal, a busy timeout, foreign keys on, and every
transaction opened with ``BEGIN IMMEDIATE`` so a writer takes its lock up front instead of
failing with "database is locked" when it later upgrades a read lock. Work that only reads can
ask for a plain deferred ``BEGIN`` (``read_only=True``): under WAL it never blocks writers and
is never blocked by them. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from allotment.config import Settings, get_settings, normalize_database_url

_SQLITE_BEGIN = "allotment_sqlite_begin"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(
    url: str | None = None, *, settings: Settings | None = None, busy_timeout_ms: int | None = None
) -> Engine:
    """Create an engine for ``url`` (default: the configured database)."""
    settings = settings or get_settings()
    url = normalize_database_url(url) if url else settings.resolved_database_url
    if is_sqlite(url):
        timeout = settings.sqlite_busy_timeout_ms if busy_timeout_ms is None else busy_timeout_ms
        return _sqlite_engine(url, busy_timeout_ms=timeout)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str, *, busy_timeout_ms: int) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def read_only(engine: Engine) -> Engine:
    """The same engine, opening deferred (non-locking) transactions on SQLite."""
    return engine.execution_options(**{_SQLITE_BEGIN: "DEFERRED"})


def make_sessionmaker(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    bind = read_only(engine) if readonly else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)


@contextmanager
def session_scope(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error (the caller's boundary)."""
    session = make_sessionmaker(engine, readonly=readonly)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
