"""The audit trail on SQLite and PostgreSQL: append, verify, tamper, refusal, concurrency."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from allotment import audit
from allotment.audit.service import AuditRecordInvalidError
from allotment.db import migrate
from allotment.db.engine import make_sessionmaker
from allotment.domain.models import AuditRecord
from tests.audit.lift import append_only_lifted


def _append(session: Session, n: int, **overrides: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "actor": "ann",
        "role": "planner",
        "action": "backorder.transition",
        "entity_type": "backorder",
        "entity_id": n,
        "before": {"status": "open"},
        "after": {"status": "escalated"},
        "reason": f"change {n}",
    }
    return audit.append(session, **(fields | overrides))


def _trail(session: Session, n: int) -> list[AuditRecord]:
    records = [_append(session, i) for i in range(n)]
    session.commit()
    return records


INVALID: list[dict[str, Any]] = [
    {"actor": "  "},
    {"action": "x" * 65},
    {"entity_id": ""},
    {"after": {"when": datetime(2025, 1, 1)}},  # naive datetime: which zone?
    {"before": ["not", "a", "mapping"]},
    {"model_versions": {"m": float("nan")}},
]


def test_records_chain_from_64_zeros_and_invalid_ones_are_refused(session: Session) -> None:
    for overrides in INVALID:
        with pytest.raises(AuditRecordInvalidError):
            _append(session, 1, **overrides)
    assert session.scalars(select(AuditRecord)).all() == []
    empty = audit.verify(session)
    assert empty.ok and empty.checked == 0 and empty.head_hash is None
    first, second, third = _trail(session, 3)
    assert first.prev_hash == "0" * 64 == audit.GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3
    assert first.occurred_at.tzinfo is not None
    result = audit.verify(session)
    assert result.ok and result.checked == 3 and result.head_hash == third.hash

    _append(session, 1, entity_type="policy_version")
    _append(session, 1, reason="again")
    session.commit()
    rows = audit.list_records(session, entity_type="backorder", entity_id=1)
    assert [r.reason for r in rows] == ["again", "change 1"]
    assert len(audit.list_records(session, limit=2)) == 2


def test_rolled_back_appends_leave_no_gap_in_the_chain(session: Session) -> None:
    """The head cached for a transaction is forgotten when it (or a savepoint) rolls back."""
    (kept,) = _trail(session, 1)
    _append(session, 2)
    session.rollback()
    with session.begin_nested():
        _append(session, 3)
        inner = session.begin_nested()
        _append(session, 4)
        inner.rollback()
        after_savepoint = _append(session, 5)
    session.commit()
    assert after_savepoint.prev_hash != kept.hash  # it follows record 3, kept in the savepoint
    result = audit.verify(session)
    assert result.ok and result.checked == 3


def test_hash_is_stable_through_the_database_round_trip(engine: Engine) -> None:
    """Decimals, datetimes, unicode, floats and nesting read back exactly as they were hashed."""
    payload = {
        "value_at_risk": Decimal("35000.10"),
        "eta": datetime(2025, 2, 15, 8, 0, 0, 123456, tzinfo=UTC),
        "customer": "Métro Manufacturing — ✓",
        "p_breach": 0.1 + 0.2,
        "lines": [{"qty": 50, "tier": "vip"}, {"qty": 20, "tier": None}],
        "empty": {},
    }
    with make_sessionmaker(engine)() as writer:
        record = _append(writer, 1, after=payload, model_versions={"allotment-churn": 3})
        writer.commit()
        record_id = record.id
    with make_sessionmaker(engine)() as reader:
        stored = reader.get(AuditRecord, record_id)
        assert stored is not None
        assert stored.after is not None
        assert stored.after["value_at_risk"] == "35000.10"
        assert stored.after["eta"] == "2025-02-15T08:00:00.123456+00:00"
        assert stored.after["p_breach"] == 0.1 + 0.2
        assert audit.verify(reader).ok


#: (column, tampered SQL literal): each edit alone must be detected at the edited record.
EDITS = [
    ("reason", "'nothing to see'"),
    ("actor", "'mallory'"),
    ("role", "'admin'"),
    ("after", '\'{"status": "resolved"}\''),
    ("entity_id", "'999'"),
    ("occurred_at", "'2020-01-01 00:00:00'"),
    ("hash", "'" + "f" * 64 + "'"),
]


def _tamper(session: Session, sql: str) -> None:
    """Run ``sql`` past the append-only triggers: someone with the rights to lift them."""
    with append_only_lifted(session.connection()):
        session.execute(text(sql))


def test_edits_moves_and_deletions_are_named_at_their_record(session: Session) -> None:
    records = _trail(session, 4)
    target = records[2].id
    for column, value in EDITS:
        # Tamper inside a transaction, verify what it sees, then roll the edit back.
        _tamper(session, f"UPDATE audit_records SET {column} = {value} WHERE id = {target}")
        result = audit.verify(session)
        assert (result.first_broken_id, result.problem) == (target, "hash_mismatch"), column
        assert (result.checked, result.head_hash) == (3, records[1].hash)
        session.rollback()
        assert audit.verify(session).ok, f"undoing the {column} edit restores the chain"

    _tamper(session, f"UPDATE audit_records SET id = 1000 WHERE id = {records[1].id}")
    session.commit()
    moved = audit.verify(session)
    assert (moved.first_broken_id, moved.problem) == (records[2].id, "broken_link")
    _tamper(session, f"UPDATE audit_records SET id = {records[1].id} WHERE id = 1000")
    session.commit()
    assert audit.verify(session).ok
    _tamper(session, f"DELETE FROM audit_records WHERE id = {records[1].id}")
    session.commit()
    deleted = audit.verify(session)
    assert (deleted.first_broken_id, deleted.problem) == (records[2].id, "broken_link")


def _refused_statements(dialect: str) -> list[str]:
    statements = [
        "UPDATE audit_records SET reason = 'nothing to see' WHERE id = 2",
        "UPDATE audit_records SET id = 1000 WHERE id = 1",
        "DELETE FROM audit_records WHERE id = 2",
        "DELETE FROM audit_records",
    ]
    if dialect == "postgresql":  # SQLite has no TRUNCATE
        statements += ["TRUNCATE audit_records", "TRUNCATE policy_versions CASCADE"]
    return statements


def test_the_database_refuses_to_change_or_remove_records(session: Session) -> None:
    """Plain SQL and the ORM alike: the refusal is the database's, not the service's."""
    _, second = _trail(session, 2)
    for sql in _refused_statements(session.get_bind().dialect.name):
        with pytest.raises(IntegrityError, match="audit_records is append-only"):
            session.execute(text(sql))
        session.rollback()
    second.reason = "rewritten through the ORM"
    with pytest.raises(IntegrityError, match="audit_records is append-only: UPDATE refused"):
        session.flush()
    session.rollback()

    assert session.scalars(select(AuditRecord.reason).order_by(AuditRecord.id)).all() == [
        "change 0",
        "change 1",
    ]
    third = _append(session, 2)  # appending is what the table is for
    session.commit()
    assert third.prev_hash == second.hash
    result = audit.verify(session)
    assert result.ok and result.checked == 3 and result.head_hash == third.hash


def test_the_triggers_come_back_when_lifting_ends(session: Session) -> None:
    """The tests' own way around the triggers lasts for its block and no longer."""
    _trail(session, 2)
    _tamper(session, "DELETE FROM audit_records WHERE id = 2")
    with pytest.raises(IntegrityError, match="audit_records is append-only: DELETE refused"):
        session.execute(text("DELETE FROM audit_records WHERE id = 1"))
    session.rollback()
    _tamper(session, "DELETE FROM audit_records WHERE id = 2")
    session.commit()
    with pytest.raises(IntegrityError, match="append-only"):
        session.execute(text("DELETE FROM audit_records WHERE id = 1"))
    session.rollback()
    assert audit.verify(session).checked == 1


def test_downgrading_0006_lets_changes_through_and_upgrading_refuses_them_again(
    engine: Engine,
) -> None:
    factory = make_sessionmaker(engine)
    with factory() as setup:
        _trail(setup, 2)
    sql = "UPDATE audit_records SET reason = 'edited' WHERE id = 1"
    try:
        migrate.downgrade(engine, "0005")
        with engine.begin() as conn:
            assert conn.execute(text(sql)).rowcount == 1
    finally:  # the session's database must end at head whatever happened
        migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
        conn.execute(text(sql))
    with factory() as check:
        assert audit.verify(check).first_broken_id == 1  # the edit made while unprotected


def _wait_until_blocked(engine: Engine) -> None:
    """Give the second writer time to reach its lock wait (observed on PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)  # SQLite: the writer waits inside BEGIN IMMEDIATE; nothing to observe
        return
    with engine.connect() as conn:
        for _ in range(500):
            if conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                return
            time.sleep(0.01)
    raise AssertionError("the second append never waited for the first")


def test_an_append_waits_for_an_uncommitted_one(engine: Engine) -> None:
    """Without the lock, B would read the chain head before A commits and fork the chain."""
    factory = make_sessionmaker(engine)
    with factory() as setup:
        _trail(setup, 1)
    a = factory()
    first = _append(a, 10)  # A holds its transaction open
    result: dict[str, Any] = {}

    def second() -> None:
        with factory() as b:
            record = _append(b, 20)
            b.commit()
            result["prev"] = record.prev_hash

    thread = threading.Thread(target=second)
    thread.start()
    try:
        _wait_until_blocked(engine)
    finally:  # end A whatever happens, or the fixture's cleanup would wait for it forever
        a.commit()
        a.close()
        thread.join(timeout=30)
    assert result["prev"] == first.hash
    with factory() as check:
        assert audit.verify(check).ok


def test_concurrent_appends_keep_one_chain(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    threads, per_thread = 4, 12
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(0, per_thread, 2):
                with factory() as s:  # two appends per transaction: the second uses the cache
                    _append(s, worker * 100 + i, actor=f"worker-{worker}")
                    _append(s, worker * 100 + i + 1, actor=f"worker-{worker}")
                    s.commit()
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert errors == []
    with factory() as check:
        prevs = check.scalars(select(AuditRecord.prev_hash)).all()
        assert len(prevs) == threads * per_thread
        assert len(set(prevs)) == len(prevs)  # no two records share a predecessor
        result = audit.verify(check)
        assert result.ok and result.checked == threads * per_thread


def _entry(n: int, **overrides: Any) -> audit.Entry:
    fields: dict[str, Any] = {
        "actor": "ann",
        "role": "planner",
        "action": "backorder.transition",
        "entity_type": "backorder",
        "entity_id": n,
        "before": {"status": "open", "qty": Decimal("2.50")},
        "after": None,
        "reason": f"change {n}",
    }
    return audit.Entry(**(fields | overrides))


def test_append_many_chains_like_appends_and_tampering_is_detected(session: Session) -> None:
    first = _append(session, 0)
    hashes = audit.append_many(session, [_entry(n) for n in range(1, 6)])
    last = _append(session, 6)
    session.commit()
    rows = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
    assert [r.hash for r in rows] == [first.hash, *hashes, last.hash]
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert rows[1].before == {"status": "open", "qty": "2.50"} and rows[1].after is None
    assert audit.verify(session).ok and audit.verify(session).checked == 7
    assert audit.append_many(session, []) == []

    # An invalid entry anywhere appends none of them.
    with pytest.raises(AuditRecordInvalidError):
        audit.append_many(session, [_entry(7), _entry(8, actor=" ")])
    session.rollback()
    assert audit.verify(session).checked == 7

    target = rows[3].id
    _tamper(session, f"UPDATE audit_records SET reason = 'edited' WHERE id = {target}")
    result = audit.verify(session)
    assert (result.first_broken_id, result.problem) == (target, "hash_mismatch")
    session.rollback()
    _tamper(session, f"DELETE FROM audit_records WHERE id = {target}")
    result = audit.verify(session)
    assert (result.first_broken_id, result.problem) == (rows[4].id, "broken_link")
