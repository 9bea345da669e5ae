"""The backorder lifecycle as an explicit state machine.

Pure rules only: which status may follow which. The service in
:mod:`allotment.domain.backorders` applies them and writes the history; the synthetic world
checks its own bulk-written histories against the same table.

========================  ==================================================================
from                      allowed next statuses
========================  ==================================================================
open                      eta_updated, partially_resolved, escalated, resolved, cancelled
eta_updated               eta_updated, partially_resolved, escalated, resolved, cancelled
partially_resolved        partially_resolved, escalated, resolved, cancelled
escalated                 escalated, partially_resolved, resolved, cancelled
resolved, cancelled       (terminal)
========================  ==================================================================

Self-transitions record a repeat of the same kind of event (a second ETA update, another
partial receipt, a higher escalation level). A backorder that has been partially resolved or
escalated does not fall back to ``eta_updated``: a later ETA is recorded on the PO line and the
expected fulfilment date, and the status keeps saying what matters more.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from allotment.domain.enums import BackorderStatus
from allotment.errors import BackorderTransitionError

S = BackorderStatus

ALLOWED_TRANSITIONS: Mapping[BackorderStatus, frozenset[BackorderStatus]] = {
    S.OPEN: frozenset({S.ETA_UPDATED, S.PARTIALLY_RESOLVED, S.ESCALATED, S.RESOLVED, S.CANCELLED}),
    S.ETA_UPDATED: frozenset(
        {S.ETA_UPDATED, S.PARTIALLY_RESOLVED, S.ESCALATED, S.RESOLVED, S.CANCELLED}
    ),
    S.PARTIALLY_RESOLVED: frozenset({S.PARTIALLY_RESOLVED, S.ESCALATED, S.RESOLVED, S.CANCELLED}),
    S.ESCALATED: frozenset({S.ESCALATED, S.PARTIALLY_RESOLVED, S.RESOLVED, S.CANCELLED}),
    S.RESOLVED: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL_STATUSES = frozenset(s for s, nxt in ALLOWED_TRANSITIONS.items() if not nxt)
ACTIVE_STATUSES = frozenset(BackorderStatus) - TERMINAL_STATUSES


def can_transition(current: BackorderStatus, target: BackorderStatus) -> bool:
    """Whether ``current -> target`` is an allowed step."""
    return target in ALLOWED_TRANSITIONS[current]


def ensure_transition(
    current: BackorderStatus, target: BackorderStatus, *, backorder: str | int | None = None
) -> None:
    """Raise :class:`BackorderTransitionError` unless ``current -> target`` is allowed."""
    if not can_transition(current, target):
        allowed = sorted(s.value for s in ALLOWED_TRANSITIONS[current])
        subject = f"backorder {backorder}" if backorder is not None else "backorder"
        raise BackorderTransitionError(
            f"{subject} cannot go from {current.value!r} to {target.value!r}"
            + (f"; allowed: {', '.join(allowed)}" if allowed else f"; {current.value!r} is final"),
            backorder=backorder,
            current=current.value,
            target=target.value,
            allowed=allowed,
        )


def ensure_path(path: Iterable[BackorderStatus]) -> None:
    """Check a whole status sequence (first element = initial status, which must be ``open``)."""
    steps = list(path)
    if not steps:
        return
    if steps[0] is not S.OPEN:
        raise BackorderTransitionError(
            f"a backorder starts 'open', not {steps[0].value!r}", target=steps[0].value
        )
    for current, target in itertools.pairwise(steps):
        ensure_transition(current, target)
