"""Which level a backorder reaches, at every boundary of the default triggers (pure)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allotment.domain.enums import BackorderStatus
from allotment.escalation.rules import OverdueCandidate, days_overdue, levels_reached
from allotment.policy.documents import shipped_policy

TRIGGERS = shipped_policy("default").escalations
PROMISED = date(2026, 1, 1)


def _levels(late: int, *, status: BackorderStatus = BackorderStatus.OPEN, applied=()) -> list[int]:
    candidate = OverdueCandidate(1, status, PROMISED, frozenset(applied))
    as_of = PROMISED + timedelta(days=late)
    return [r.trigger.days_overdue for r in levels_reached([candidate], TRIGGERS, as_of)]


@pytest.mark.parametrize(
    ("late", "levels"),
    [
        (-5, []),
        (0, []),
        (2, []),
        (3, [3]),
        (6, [3]),
        (7, [3, 7]),
        (13, [3, 7]),
        (14, [3, 7, 14]),
        (20, [3, 7, 14]),
        (21, [3, 7, 14, 21]),
        (400, [3, 7, 14, 21]),
    ],
)
def test_levels_reached_at_each_boundary(late: int, levels: list[int]) -> None:
    assert _levels(late) == levels


def test_the_default_policy_holds_the_handbook_triggers() -> None:
    assert [(t.days_overdue, t.role, t.action) for t in TRIGGERS] == [
        (3, "supervisor", "notify"),
        (7, "manager", "escalate"),
        (14, "director", "involve"),
        (21, "executive", "review"),
    ]


def test_a_level_already_applied_is_not_reached_again() -> None:
    assert _levels(15, applied=(3, 7)) == [14]
    assert _levels(15, applied=(3, 7, 14)) == []


@pytest.mark.parametrize("status", [BackorderStatus.RESOLVED, BackorderStatus.CANCELLED])
def test_resolved_and_cancelled_backorders_never_escalate(status: BackorderStatus) -> None:
    assert _levels(30, status=status) == []


def test_only_notify_levels_leave_the_status_alone() -> None:
    candidate = OverdueCandidate(1, BackorderStatus.OPEN, PROMISED, frozenset())
    reached = levels_reached([candidate], TRIGGERS, PROMISED + timedelta(days=21))
    assert [(r.trigger.action, r.escalates) for r in reached] == [
        ("notify", False),
        ("escalate", True),
        ("involve", True),
        ("review", True),
    ]


def test_the_promised_day_itself_is_not_overdue() -> None:
    assert days_overdue(PROMISED, PROMISED) == 0
    assert days_overdue(PROMISED, PROMISED + timedelta(days=1)) == 1


@given(late=st.integers(-30, 60), applied=st.sets(st.sampled_from([3, 7, 14, 21])))
def test_reached_levels_are_the_unapplied_thresholds_at_or_below_the_days(
    late: int, applied: set[int]
) -> None:
    expected = [d for d in (3, 7, 14, 21) if late > 0 and d <= late and d not in applied]
    assert _levels(late, applied=applied) == expected
