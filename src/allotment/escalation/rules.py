"""Which overdue backorders reach which escalation level as of a day. Pure: no database.

A backorder is **overdue** by ``d = as_of − promised date`` days (the customer order's promised
date; ``d ≤ 0`` is not overdue). It reaches a trigger's level when ``d ≥ days_overdue`` of the
trigger. A level is applied once per backorder: the levels already applied (identified by the
trigger's ``days_overdue``) are passed in and never returned again. A backorder that reached
several levels since the last run gets each of them, lowest first, so every role on the way hears
about it.

Trigger actions and what they do to the status:

==========  ==================================================================================
action      effect
==========  ==================================================================================
notify      the role is notified; the status is unchanged
escalate    the backorder moves to ``escalated`` (through the lifecycle) and the role is notified
involve     as ``escalate`` (a higher level: ``escalated`` → ``escalated`` records it)
review      as ``escalate``
==========  ==================================================================================

Resolved and cancelled backorders are never escalated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from allotment.domain.enums import BackorderStatus
from allotment.domain.lifecycle import TERMINAL_STATUSES
from allotment.policy.schema import EscalationTrigger

#: Trigger actions that move a backorder to ``escalated``.
ESCALATING_ACTIONS = frozenset({"escalate", "involve", "review"})


@dataclass(frozen=True)
class OverdueCandidate:
    """What the rule needs to know about one backorder."""

    backorder_id: int
    status: BackorderStatus
    promised_date: date
    # ``days_overdue`` of the triggers already applied to it.
    applied: frozenset[int] = frozenset()


@dataclass(frozen=True)
class LevelReached:
    """One escalation level a backorder reached and has not had applied yet."""

    backorder_id: int
    days_overdue: int  # the backorder's days past its promised date
    trigger: EscalationTrigger

    @property
    def escalates(self) -> bool:
        """Whether this level moves the backorder to ``escalated``."""
        return self.trigger.action in ESCALATING_ACTIONS


def days_overdue(promised: date, as_of: date) -> int:
    """Days past the promised date (negative before it, 0 on it)."""
    return (as_of - promised).days


def levels_reached(
    candidates: Iterable[OverdueCandidate],
    triggers: Sequence[EscalationTrigger],
    as_of: date,
) -> list[LevelReached]:
    """The levels each backorder reached as of ``as_of`` and has not had applied.

    Parameters
    ----------
    candidates
        Backorders with their status, promised date and the levels already applied.
    triggers
        The policy's escalation triggers (any order).
    as_of
        The day the escalation runs for.

    Returns
    -------
    list of LevelReached
        Ordered by backorder (as given), then by level, lowest first. Terminal backorders and
        backorders not overdue yield nothing.
    """
    ordered = sorted(triggers, key=lambda t: t.days_overdue)
    out: list[LevelReached] = []
    for c in candidates:
        if c.status in TERMINAL_STATUSES:
            continue
        late = days_overdue(c.promised_date, as_of)
        if late <= 0:
            continue
        out.extend(
            LevelReached(backorder_id=c.backorder_id, days_overdue=late, trigger=t)
            for t in ordered
            if late >= t.days_overdue and t.days_overdue not in c.applied
        )
    return out
