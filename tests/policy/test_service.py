"""Policy versions on SQLite and PostgreSQL: drafts, one active, audited activation, races."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from allotment import audit
from allotment.db.engine import make_sessionmaker
from allotment.db.types import utcnow
from allotment.domain.enums import PolicyStatus
from allotment.domain.models import AuditRecord, PolicyVersion
from allotment.policy import service as svc
from allotment.policy.documents import checksum, shipped_policy
from allotment.policy.schema import Policy

DEFAULT = shipped_policy("default")
STATIC = shipped_policy("static-tier")


def _variant(description: str) -> Policy:
    return DEFAULT.model_copy(update={"description": description})


def _actions(session: Session) -> list[tuple[str, str, str]]:
    rows = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
    return [(r.action, r.entity_id, r.actor) for r in rows]


def _active(session: Session) -> list[PolicyVersion]:
    return list(
        session.scalars(select(PolicyVersion).where(PolicyVersion.status == PolicyStatus.ACTIVE))
    )


def test_a_database_without_a_policy_gets_the_shipped_default(session: Session) -> None:
    row, policy = svc.active_policy(session)
    session.commit()
    assert policy == DEFAULT
    assert (row.name, row.version, row.status, row.author) == (
        "default",
        1,
        PolicyStatus.ACTIVE,
        "system",
    )
    assert row.checksum == checksum(DEFAULT) and row.effective_from is not None
    assert _actions(session) == [
        ("policy.drafted", str(row.id), "system"),
        ("policy.activated", str(row.id), "system"),
    ]
    again, _ = svc.active_policy(session)
    assert again.id == row.id
    assert len(session.scalars(select(PolicyVersion)).all()) == 1


def test_activation_retires_the_previous_and_is_audited(session: Session) -> None:
    first, _ = svc.active_policy(session)
    draft = svc.create_draft(session, document=STATIC, author="ann", reason="compare")
    assert (draft.name, draft.version, draft.status) == ("static-tier", 1, PolicyStatus.DRAFT)
    assert svc.create_draft(session, document=_variant("v2"), author="ann").version == 2

    activated = svc.activate(
        session, policy_version_id=draft.id, actor="bob", role="admin", reason="try the rule"
    )
    session.commit()
    assert [r.id for r in _active(session)] == [activated.id] == [draft.id]
    assert first.status is PolicyStatus.RETIRED and first.retired_at is not None
    assert activated.effective_from == first.retired_at

    records = session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(2)).all()
    done, retired = records
    assert (done.action, done.actor, done.role, done.reason) == (
        "policy.activated",
        "bob",
        "admin",
        "try the rule",
    )
    assert done.before == {"active": svc.summary(first) | {"status": "active"}}
    assert done.after is not None and done.after["active"]["id"] == draft.id
    assert done.policy_version_id == draft.id
    assert (retired.action, retired.entity_id) == ("policy.retired", str(first.id))
    assert audit.verify(session).ok

    # Rolling back: the retired default is activated again by id, no new version stored.
    back = svc.activate(session, policy_version_id=first.id, actor="bob", role=None, reason="undo")
    assert back.id == first.id and draft.status is PolicyStatus.RETIRED
    assert len(_active(session)) == 1


def test_identical_documents_are_reused_and_one_active_is_enforced(session: Session) -> None:
    active, _ = svc.active_policy(session)
    recorded = len(_actions(session))
    same = svc.activate(session, document=DEFAULT, actor="ann", role=None, reason="again")
    assert same.id == active.id and len(_actions(session)) == recorded  # no-op, not recorded
    other = svc.activate(session, document=STATIC, actor="ann", role=None, reason="switch")
    back = svc.activate(session, document=DEFAULT, actor="ann", role=None, reason="switch back")
    assert back.id == active.id  # the same content is the same version
    assert other.status is PolicyStatus.RETIRED
    with pytest.raises(svc.PolicyActivationError, match="needs a reason"):
        svc.activate(session, policy_version_id=other.id, actor="ann", role=None, reason=" ")
    stored, policy = svc.find_policy(session, name="static-tier")
    assert stored.id == other.id and policy == STATIC
    assert [r.name for r in svc.list_policies(session)] == ["static-tier", "default"]

    # Below the service, the database itself refuses a second active row.
    session.commit()
    rogue = svc.create_draft(session, document=_variant("rogue"), author="ann")
    rogue.status = PolicyStatus.ACTIVE
    rogue.effective_from = utcnow()
    with pytest.raises(IntegrityError):
        session.flush()


def _wait_until_blocked(engine: Engine) -> None:
    """Give the second activation time to reach its lock wait (observed on PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)  # SQLite: the writer waits inside BEGIN IMMEDIATE; nothing to observe
        return
    with engine.connect() as conn:
        for _ in range(500):
            if conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                return
            time.sleep(0.01)
    raise AssertionError("the second activation never waited for the first")


def test_racing_activations_never_leave_two_active(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with factory() as setup:
        svc.active_policy(setup)
        b = svc.create_draft(setup, document=STATIC, author="ann").id
        c = svc.create_draft(setup, document=_variant("c"), author="ann").id
        setup.commit()

    first = factory()
    svc.activate(first, policy_version_id=b, actor="ann", role=None, reason="b")
    outcome: dict[str, Any] = {}

    def second() -> None:
        with factory() as s:
            try:
                svc.activate(s, policy_version_id=c, actor="bob", role=None, reason="c")
                s.commit()
                outcome["result"] = "activated"
            except svc.PolicyActivationConflictError:
                s.rollback()
                outcome["result"] = "conflict"

    thread = threading.Thread(target=second)
    thread.start()
    try:
        _wait_until_blocked(engine)
    finally:  # end the first whatever happens, or the fixture's cleanup would wait for it
        first.commit()
        first.close()
        thread.join(timeout=30)

    with factory() as check:
        active = _active(check)
        assert len(active) == 1
        # SQLite serializes the two writers (the second retires the first's); PostgreSQL lets
        # them overlap and the one-active index refuses the loser, which changes nothing.
        expected = {"activated": c, "conflict": b}[outcome["result"]]
        assert active[0].id == expected
        activations = check.scalars(
            select(AuditRecord.entity_id).where(AuditRecord.action == "policy.activated")
        ).all()
        winners = [b, c] if outcome["result"] == "activated" else [b]
        assert activations[1:] == [str(w) for w in winners]  # [0]: the default's install
        assert audit.verify(check).ok
    if engine.dialect.name == "postgresql":
        assert outcome["result"] == "conflict"


def test_concurrent_first_calls_install_the_default_once(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    first = factory()
    row, _ = svc.active_policy(first)  # installed, not yet committed
    seen: dict[str, int] = {}

    def second() -> None:
        with factory() as s:
            seen["id"] = svc.active_policy(s)[0].id
            s.commit()

    thread = threading.Thread(target=second)
    thread.start()
    try:
        _wait_until_blocked(engine)
    finally:  # end the first whatever happens, or the fixture's cleanup would wait for it
        first.commit()
        first.close()
        thread.join(timeout=30)
    assert seen["id"] == row.id
    with factory() as check:
        assert len(check.scalars(select(PolicyVersion)).all()) == 1
        assert audit.verify(check).ok
