"""``allotment escalate``: apply the active policy's escalation triggers and approval reminders.

Services flush; the command commits. Running it twice for the same time changes nothing the
second time: each level is recorded in ``backorder_escalations`` (unique per backorder and
level), and every notification carries a dedupe key.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from allotment import audit
from allotment.db.types import utcnow
from allotment.domain import backorders as lifecycle
from allotment.domain.enums import BackorderStatus
from allotment.domain.models import Backorder, BackorderEscalation, Customer
from allotment.escalation import repository as repo
from allotment.escalation.rules import LevelReached, OverdueCandidate, levels_reached
from allotment.notify import outbox
from allotment.notify import rules as notify_rules
from allotment.policy import service as policies
from allotment.policy.routing import role_label, tier_label, usd
from allotment.policy.schema import Policy

#: The audit role of escalation runs (the actor is whoever runs the command).
SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class AppliedLevel:
    """One level applied in a run."""

    backorder_id: int
    backorder_number: str
    days_overdue: int
    level: int  # the trigger's days_overdue
    action: str
    role: str
    status_before: str
    status_after: str
    notifications: int


@dataclass(frozen=True)
class ReminderSent:
    """Approval reminders enqueued for one waiting recommendation."""

    recommendation_id: int
    hours_waiting: float
    reminder: int
    roles: tuple[str, ...]
    notifications: int


@dataclass
class EscalationReport:
    """What one ``escalate`` run did."""

    now: datetime
    as_of: date
    policy_version_id: int
    overdue: int = 0
    applied: list[AppliedLevel] = field(default_factory=list)
    reminders: list[ReminderSent] = field(default_factory=list)

    @property
    def escalated(self) -> int:
        """Backorders that entered ``escalated`` in this run."""
        return len(
            {
                a.backorder_id
                for a in self.applied
                if a.status_after == "escalated" and a.status_before != "escalated"
            }
        )

    @property
    def notifications(self) -> int:
        return sum(a.notifications for a in self.applied) + sum(
            r.notifications for r in self.reminders
        )

    def summary(self) -> str:
        """One line: what changed."""
        return (
            f"{self.now.isoformat(timespec='seconds')} escalate: {self.overdue} overdue,"
            f" {len(self.applied)} level(s) applied, {self.escalated} newly escalated,"
            f" {sum(r.notifications for r in self.reminders)} approval reminder(s),"
            f" {self.notifications} notification(s) enqueued"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "as_of": self.as_of.isoformat(),
            "policy_version_id": self.policy_version_id,
            "overdue": self.overdue,
            "levels_applied": len(self.applied),
            "newly_escalated": self.escalated,
            "notifications_enqueued": self.notifications,
            "applied": [asdict(a) for a in self.applied],
            "reminders": [asdict(r) for r in self.reminders],
        }


def _state(b: Backorder, level: int | None) -> dict[str, Any]:
    return {"number": b.number, "status": b.status.value, "escalation_level": level}


def _recipients(policy: Policy, level: LevelReached, customer: Customer) -> list[str]:
    """The trigger's role, then the roles of the policy's immediate ``escalated`` rules."""
    out = [f"role:{level.trigger.role}"]
    if level.escalates:
        for rule in notify_rules.immediate_rules(policy, "escalated"):
            if notify_rules.applies(rule, customer):
                out += [notify_rules.recipient_for(role, customer) for role in rule.roles]
    return list(dict.fromkeys(out))


def _apply(
    session: Session,
    *,
    row: repo.OverdueRow,
    level: LevelReached,
    previous_level: int | None,
    policy: Policy,
    policy_version_id: int,
    now: datetime,
    actor: str,
) -> AppliedLevel:
    b, t = row.backorder, level.trigger
    before = _state(b, previous_level)
    reason = (
        f"{level.days_overdue} days past the promised date {row.promised_date}:"
        f" level {t.days_overdue} days, {t.action} {role_label(t.role)}"
    )
    repo.add_level(
        session=session,
        level=BackorderEscalation(
            backorder_id=b.id,
            days_overdue=t.days_overdue,
            reached_days=level.days_overdue,
            role=t.role,
            action=t.action,
            escalated=level.escalates,
            policy_version_id=policy_version_id,
            applied_at=now,
            applied_by=actor,
        ),
    )
    if level.escalates:
        lifecycle.transition(
            session,
            backorder=b,
            to=BackorderStatus.ESCALATED,
            actor=actor,
            reason=f"escalation: {reason}",
            at=now,
        )
    audit.append(
        session,
        actor=actor,
        role=SYSTEM_ROLE,
        action="backorder.escalated" if level.escalates else "backorder.escalation_notified",
        entity_type="backorder",
        entity_id=b.id,
        before=before,
        after=_state(b, max(previous_level or 0, t.days_overdue)),
        reason=reason,
        policy_version_id=policy_version_id,
    )
    context = {
        "backorder_id": b.id,
        "backorder_number": b.number,
        "customer_code": row.customer.code,
        "customer_name": row.customer.name,
        "tier": tier_label(row.customer.tier),
        "promised_date": row.promised_date.isoformat(),
        "days_overdue": level.days_overdue,
        "days_threshold": t.days_overdue,
        "action": t.action,
        "role": role_label(t.role),
        "level_label": f"{t.action} {role_label(t.role)}",
        "open_quantity": b.open_quantity,
        "value_at_risk": usd(b.value_at_risk),
        "status": b.status.value,
    }
    sent = 0
    for recipient in _recipients(policy, level, row.customer):
        sent += len(
            outbox.enqueue(
                session,
                kind="escalation",
                recipient=recipient,
                context=context,
                dedupe_key=f"escalation:{b.id}:{t.days_overdue}:{recipient}",
                now=now,
            )
        )
    return AppliedLevel(
        backorder_id=b.id,
        backorder_number=b.number,
        days_overdue=level.days_overdue,
        level=t.days_overdue,
        action=t.action,
        role=t.role,
        status_before=str(before["status"]),
        status_after=b.status.value,
        notifications=sent,
    )


def _remind(session: Session, *, policy: Policy, now: datetime) -> list[ReminderSent]:
    period_hours = policy.approvals.remind_after_hours
    period = timedelta(hours=period_hours)
    out = []
    for rec in repo.waiting_recommendations(session=session, created_by=now - period):
        roles = tuple(str(r) for r in (rec.route or {}).get("chain", []))
        if not roles:
            continue
        hours = (now - rec.created_at).total_seconds() / 3600
        # One reminder per full period waited: the k-th is enqueued once, however often we run.
        k = max(math.floor(hours / period_hours), 1)
        context = outbox.recommendation_context(session, rec)
        context.update(hours_waiting=math.floor(hours), reminder=k, remind_after_hours=period_hours)
        sent = 0
        for role in roles:
            sent += len(
                outbox.enqueue(
                    session,
                    kind="approval_reminder",
                    recipient=f"role:{role}",
                    context={**context, "role": role_label(role)},
                    dedupe_key=f"approval_reminder:{rec.id}:{k}:{role}",
                    now=now,
                )
            )
        if sent:
            out.append(
                ReminderSent(
                    recommendation_id=rec.id,
                    hours_waiting=round(hours, 2),
                    reminder=k,
                    roles=roles,
                    notifications=sent,
                )
            )
    return out


def run(session: Session, *, actor: str, now: datetime | None = None) -> EscalationReport:
    """Apply the active policy's escalation triggers and approval reminders as of ``now``."""
    now = now or utcnow()
    as_of = now.date()
    policy_row, policy = policies.active_policy(session)
    report = EscalationReport(now=now, as_of=as_of, policy_version_id=policy_row.id)

    rows = repo.overdue_backorders(session=session, as_of=as_of)
    report.overdue = len(rows)
    applied = repo.applied_levels(session=session, backorder_ids=[r.backorder.id for r in rows])
    by_id = {r.backorder.id: r for r in rows}
    candidates = [
        OverdueCandidate(
            backorder_id=r.backorder.id,
            status=r.backorder.status,
            promised_date=r.promised_date,
            applied=frozenset(applied.get(r.backorder.id, ())),
        )
        for r in rows
    ]
    highest: dict[int, int | None] = defaultdict(lambda: None)
    for backorder_id, levels in applied.items():
        highest[backorder_id] = max(levels)
    for level in levels_reached(candidates, policy.escalations, as_of):
        report.applied.append(
            _apply(
                session,
                row=by_id[level.backorder_id],
                level=level,
                previous_level=highest[level.backorder_id],
                policy=policy,
                policy_version_id=policy_row.id,
                now=now,
                actor=actor,
            )
        )
        highest[level.backorder_id] = max(
            highest[level.backorder_id] or 0, level.trigger.days_overdue
        )
    report.reminders = _remind(session, policy=policy, now=now)
    session.flush()
    return report
