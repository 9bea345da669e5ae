"""Engine behaviour: SQLite pragmas, up-front write locks, settings."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from allotment.config import Settings, get_settings
from allotment.db import migrate
from allotment.db.engine import make_engine, session_scope
from allotment.domain.enums import Tier
from allotment.domain.models import Customer


def test_sqlite_runs_in_wal_with_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_concurrent_read_then_write_transactions_do_not_fail_with_locked(tmp_path: Path) -> None:
    """Deferred transactions that read, then write, deadlock in SQLite and one fails at once
    with "database is locked"; ``BEGIN IMMEDIATE`` makes them queue instead."""
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate.upgrade(engine)
    errors: list[BaseException] = []
    per_thread, threads = 15, 6
    start = threading.Barrier(threads)

    def worker(k: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with session_scope(engine) as s:
                    n = s.scalar(select(func.count()).select_from(Customer))
                    s.add(
                        Customer(
                            code=f"T{k}-{i}",
                            name=f"seen {n}",
                            tier=Tier.STANDARD,
                            region="r",
                            lifetime_value=Decimal("0"),
                            created_on=date(2025, 1, 1),
                        )
                    )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == per_thread * threads
    engine.dispose()


def test_a_read_only_session_does_not_block_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate.upgrade(engine)
    fast = make_engine(f"sqlite:///{tmp_path / 'r.db'}", busy_timeout_ms=200)
    with session_scope(engine, readonly=True) as reader:
        assert reader.scalar(select(func.count()).select_from(Customer)) == 0
        with session_scope(fast) as writer:  # would time out if the reader held the lock
            writer.execute(text("DELETE FROM customers"))
    with pytest.raises(OperationalError, match="locked"), session_scope(engine) as holder:
        holder.scalar(select(func.count()).select_from(Customer))
        with session_scope(fast) as writer:
            writer.execute(text("DELETE FROM customers"))
    engine.dispose()
    fast.dispose()


def test_default_database_is_sqlite_under_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOTMENT_DATA_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    url = get_settings().resolved_database_url
    assert url == f"sqlite:///{(tmp_path / 'elsewhere' / 'allotment.db').resolve()}"


def test_postgres_urls_use_psycopg3() -> None:
    s = Settings(database_url="postgresql://u@h:5432/db")
    assert s.resolved_database_url == "postgresql+psycopg://u@h:5432/db"


def test_mlflow_store_is_separate_from_the_app_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOTMENT_MLFLOW_TRACKING_URI")  # the suite's own store; see conftest
    s = Settings()
    assert s.resolved_mlflow_tracking_uri.endswith("models/mlflow.db")
    assert s.resolved_mlflow_tracking_uri != s.resolved_database_url


def test_unknown_log_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        Settings(log_level="chatty")
