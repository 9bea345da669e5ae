"""The backorder state machine: every transition, allowed and refused, on both backends."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain import backorders as svc
from allotment.domain.enums import BackorderStatus
from allotment.domain.lifecycle import (
    ALLOWED_TRANSITIONS,
    TERMINAL_STATUSES,
    can_transition,
    ensure_path,
    ensure_transition,
)
from allotment.domain.models import Backorder, BackorderStatusChange
from allotment.errors import BackorderTransitionError
from tests import factories

S = BackorderStatus
ALL_PAIRS = list(itertools.product(BackorderStatus, BackorderStatus))
ALLOWED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b in ALLOWED_TRANSITIONS[a]]
REFUSED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b not in ALLOWED_TRANSITIONS[a]]

# The handbook's progression (chapter 12), spelled out so a change to the table is deliberate.
EXPECTED_ALLOWED = {
    (S.OPEN, S.ETA_UPDATED),
    (S.OPEN, S.PARTIALLY_RESOLVED),
    (S.OPEN, S.ESCALATED),
    (S.OPEN, S.RESOLVED),
    (S.OPEN, S.CANCELLED),
    (S.ETA_UPDATED, S.ETA_UPDATED),
    (S.ETA_UPDATED, S.PARTIALLY_RESOLVED),
    (S.ETA_UPDATED, S.ESCALATED),
    (S.ETA_UPDATED, S.RESOLVED),
    (S.ETA_UPDATED, S.CANCELLED),
    (S.PARTIALLY_RESOLVED, S.PARTIALLY_RESOLVED),
    (S.PARTIALLY_RESOLVED, S.ESCALATED),
    (S.PARTIALLY_RESOLVED, S.RESOLVED),
    (S.PARTIALLY_RESOLVED, S.CANCELLED),
    (S.ESCALATED, S.ESCALATED),
    (S.ESCALATED, S.PARTIALLY_RESOLVED),
    (S.ESCALATED, S.RESOLVED),
    (S.ESCALATED, S.CANCELLED),
}

AT = datetime(2025, 1, 28, 9, 0, tzinfo=UTC)


def test_transition_table_is_the_documented_one() -> None:
    assert set(ALLOWED_PAIRS) == EXPECTED_ALLOWED
    assert {S.RESOLVED, S.CANCELLED} == TERMINAL_STATUSES


@pytest.mark.parametrize(("current", "target"), REFUSED_PAIRS, ids=lambda s: s.value)
def test_refused_transition_raises_typed_error(current: S, target: S) -> None:
    with pytest.raises(BackorderTransitionError) as info:
        ensure_transition(current, target, backorder="BO-1")
    assert info.value.status_code == 409
    assert info.value.details["current"] == current.value
    assert info.value.details["target"] == target.value


@given(st.lists(st.sampled_from(list(BackorderStatus)), min_size=1, max_size=8))
def test_a_path_is_valid_exactly_when_every_step_is(path: list[S]) -> None:
    steps_ok = path[0] is S.OPEN and all(can_transition(a, b) for a, b in itertools.pairwise(path))
    if steps_ok:
        ensure_path(path)
    else:
        with pytest.raises(BackorderTransitionError):
            ensure_path(path)


def _backorder_in(session: Session, status: S) -> Backorder:
    """A backorder driven into ``status`` through allowed steps only."""
    line = factories.order_line(session)
    bo = svc.create_manual(
        session, order_line_id=line.id, quantity=10, actor="planner.ann", reason="test", at=AT
    )
    route = {
        S.OPEN: [],
        S.ETA_UPDATED: [S.ETA_UPDATED],
        S.PARTIALLY_RESOLVED: [S.PARTIALLY_RESOLVED],
        S.ESCALATED: [S.ESCALATED],
        S.RESOLVED: [S.RESOLVED],
        S.CANCELLED: [S.CANCELLED],
    }[status]
    for step in route:
        svc.transition(session, backorder=bo, to=step, actor="planner.ann", reason="setup", at=AT)
    return bo


@pytest.mark.parametrize(("current", "target"), ALLOWED_PAIRS, ids=lambda s: s.value)
def test_allowed_transition_is_applied_and_recorded(
    session: Session, current: S, target: S
) -> None:
    bo = _backorder_in(session, current)
    svc.transition(session, backorder=bo, to=target, actor="sup.bob", reason="why not", at=AT)
    session.commit()

    stored = session.get(Backorder, bo.id)
    assert stored is not None and stored.status is target
    last = session.scalars(
        select(BackorderStatusChange)
        .where(BackorderStatusChange.backorder_id == bo.id)
        .order_by(BackorderStatusChange.id.desc())
    ).first()
    assert last is not None
    assert (last.from_status, last.to_status) == (current, target)
    assert (last.changed_by, last.reason, last.changed_at) == ("sup.bob", "why not", AT)
    assert (stored.closed_at is not None) == (target in TERMINAL_STATUSES)


@pytest.mark.parametrize(("current", "target"), REFUSED_PAIRS, ids=lambda s: s.value)
def test_refused_transition_changes_nothing(session: Session, current: S, target: S) -> None:
    bo = _backorder_in(session, current)
    session.commit()
    history_before = len(bo.history)
    with pytest.raises(BackorderTransitionError):
        svc.transition(session, backorder=bo, to=target, actor="x", reason="y", at=AT)
    session.rollback()
    stored = session.get(Backorder, bo.id)
    assert stored is not None and stored.status is current
    assert len(stored.history) == history_before
