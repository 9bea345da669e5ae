"""The chain head cached for a transaction survives flushes (no re-read per append)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from allotment import audit
from allotment.audit.service import _HEAD_KEY
from tests import factories


def _append(session: Session, n: int) -> str:
    record = audit.append(
        session,
        actor="a",
        role=None,
        action="x.done",
        entity_type="x",
        entity_id=n,
        before=None,
        after={"n": n},
        reason=None,
    )
    return record.hash


def test_a_flush_keeps_the_cached_head_and_the_transactions_end_forgets_it(
    session: Session,
) -> None:
    head = _append(session, 1)
    factories.supplier(session)  # another flush inside the same transaction
    assert session.info.get(_HEAD_KEY) == head
    with session.begin_nested():
        assert _append(session, 2) != head
    assert _HEAD_KEY not in session.info  # a savepoint ended: read it again next time
    session.commit()
    assert _HEAD_KEY not in session.info
    assert audit.verify(session).ok
