"""Digests: the policy's ``daily_digest`` and ``weekly_summary`` notification rules.

For each such rule and each of its roles, one notification per **period** reports what happened
in it (the rule's event: backorders created, by default) and the backlog as it stands when the
digest is made (open, overdue, escalated, open value by tier). Periods are UTC: a day is
``[00:00, 24:00)``; a week is an ISO week, Monday 00:00 to the next Monday 00:00, labelled
``2026-W49``. A run as of ``now`` reports the **last complete** period (yesterday; last week).

Deduplicated by (rule, recipient, period): the dedupe key is
``<cadence>:<event>:<tiers>:<period>:<recipient>``, so running twice in a period — or two runs
at once — enqueues once, and a new policy version with the same rule does not send it again.
A run that finds nothing to say (nothing happened, empty backlog) enqueues nothing. What a
digest says is what was recorded when it was made: an event ingested later with an
``occurred_at`` inside a period that was already reported is in no digest.

Recipients follow :func:`allotment.notify.rules.recipient_for`, except that a digest is about
many customers: ``account_manager`` gets one digest per account manager (``user:<name>``)
covering only that manager's customers. A rule's ``tiers`` restrict everything it reports.

The run flushes; the command (``allotment notify --digest``, ``allotment escalate``) commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.orm import Session

from allotment.config import get_settings
from allotment.db.types import utcnow
from allotment.domain.enums import Tier
from allotment.notify import digest_repository as repo
from allotment.notify import outbox
from allotment.notify.digest_repository import DIGEST_EVENTS, BacklogTier, HappenedLine, Scope
from allotment.notify.rules import recipient_for
from allotment.policy.routing import tier_label, usd
from allotment.policy.schema import NotificationRule, Policy
from allotment.policy.service import policy_in_force

Cadence = Literal["daily_digest", "weekly_summary"]
DIGEST_CADENCES: tuple[Cadence, ...] = ("daily_digest", "weekly_summary")

#: How many backorders a digest lists by name (the largest value at risk first).
LISTED = {"daily_digest": 50, "weekly_summary": 10}

_EVENT_WORDS = {
    "backorder_created": "backorders created",
    "eta_updated": "backorders with a new ETA",
    "escalated": "backorders escalated",
    "resolved": "backorders resolved",
}


# --- periods (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A UTC day or ISO week: ``[start, end)``."""

    cadence: Cadence
    start: datetime
    end: datetime
    label: str  # "2026-12-06" or "2026-W49"

    def previous(self) -> Period:
        """The period just before this one."""
        return period_of(self.cadence, self.start - timedelta(microseconds=1))


def as_utc(at: datetime) -> datetime:
    """``at`` in UTC (a naive datetime is taken to be UTC already)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def period_of(cadence: Cadence, at: datetime) -> Period:
    """The day (``daily_digest``) or ISO week (``weekly_summary``) that contains ``at``.

    Parameters
    ----------
    cadence
        ``daily_digest`` or ``weekly_summary``.
    at
        Any time; converted to UTC first (naive: taken as UTC).

    Returns
    -------
    Period
        Its UTC bounds (start inclusive, end exclusive) and label.
    """
    day = as_utc(at).date()
    if cadence == "daily_digest":
        start = datetime.combine(day, time.min, tzinfo=UTC)
        return Period(cadence, start, start + timedelta(days=1), day.isoformat())
    if cadence == "weekly_summary":
        monday = day - timedelta(days=day.weekday())
        start = datetime.combine(monday, time.min, tzinfo=UTC)
        year, week, _ = monday.isocalendar()
        return Period(cadence, start, start + timedelta(days=7), f"{year}-W{week:02d}")
    raise ValueError(f"{cadence!r} is not a digest cadence")


def last_complete(cadence: Cadence, now: datetime) -> Period:
    """The latest period that has ended by ``now`` (at midnight exactly: the one just ended)."""
    return period_of(cadence, now).previous()


# --- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestOutcome:
    """One (rule, recipient, period): what the run did about it."""

    cadence: str
    event: str
    tiers: tuple[str, ...]
    recipient: str
    period: str
    # "enqueued", "already_enqueued", "nothing_to_report", or "unsupported_event"
    outcome: str
    happened: int = 0
    notifications: int = 0


@dataclass
class DigestReport:
    """What one digest run did."""

    now: datetime
    outcomes: list[DigestOutcome] = field(default_factory=list)

    @property
    def notifications(self) -> int:
        return sum(o.notifications for o in self.outcomes)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def summary(self) -> str:
        """One line: what was enqueued."""
        return (
            f"{self.now.isoformat(timespec='seconds')} digest: {self.count('enqueued')}"
            f" digest(s) enqueued ({self.notifications} notification(s)),"
            f" {self.count('already_enqueued')} already enqueued,"
            f" {self.count('nothing_to_report')} with nothing to report"
            + (
                f", {self.count('unsupported_event')} rule(s) with an event digests cannot report"
                if self.count("unsupported_event")
                else ""
            )
        )

    def short(self) -> str:
        """The counts only, to follow another command's line."""
        return (
            f"digests: {self.count('enqueued')} enqueued, {self.count('already_enqueued')}"
            f" already enqueued, {self.count('nothing_to_report')} with nothing to report"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "notifications_enqueued": self.notifications,
            "outcomes": [asdict(o) for o in self.outcomes],
        }


def _tiers_key(rule: NotificationRule) -> str:
    return "+".join(sorted(t.value for t in rule.tiers)) or "all"


def dedupe_key(rule: NotificationRule, period: Period, recipient: str) -> str:
    """What makes two digests the same: rule (cadence, event, tiers), period and recipient."""
    return f"{rule.cadence}:{rule.event}:{_tiers_key(rule)}:{period.label}:{recipient}"


def _line(h: HappenedLine) -> str:
    eta = h.expected.isoformat() if h.expected else "not known"
    return (
        f"- {h.number} {h.customer_name} ({tier_label(h.tier)}): order {h.order_number}"
        f" line {h.line_no}, {h.quantity} x {h.sku}, {h.root_cause.value.replace('_', ' ')},"
        f" ETA {eta}, {usd(h.value_at_risk)}; now {h.status.value}"
    )


def _tiers_of(scope: Scope) -> tuple[Tier, ...]:
    return tuple(t for t in Tier if not scope.tiers or t in scope.tiers)


def _backlog_text(backlog: dict[Tier, BacklogTier], scope: Scope, now: datetime) -> str:
    tiers = _tiers_of(scope)
    empty = BacklogTier(0, 0, 0, Decimal("0.00"))
    rows = [backlog.get(t, empty) for t in tiers]
    total = sum((r.open_value for r in rows), Decimal("0.00"))
    head = (
        f"Backlog as of {now.strftime('%Y-%m-%d %H:%M')} UTC: {sum(r.open for r in rows)} open,"
        f" {sum(r.overdue for r in rows)} overdue, {sum(r.escalated for r in rows)} escalated;"
        f" open value {usd(total)}."
    )
    by_tier = "; ".join(
        f"{tier_label(t)} {usd(r.open_value)} ({r.open} open, {r.overdue} overdue,"
        f" {r.escalated} escalated)"
        for t, r in zip(tiers, rows, strict=True)
    )
    return f"{head}\nValue at risk by tier: {by_tier}."


def _scope_text(scope: Scope) -> str:
    tiers = (
        "tiers " + ", ".join(tier_label(t) for t in _tiers_of(scope))
        if scope.tiers
        else "all tiers"
    )
    if scope.account_manager is not None:
        return f"customers of {scope.account_manager}, {tiers}"
    return tiers


def build_context(
    session: Session,
    *,
    rule: NotificationRule,
    period: Period,
    scope: Scope,
    now: datetime,
) -> tuple[dict[str, Any], int, int]:
    """The template fields of one digest, how many backorders had the rule's event in the
    period, and how many backorders the backlog holds."""
    event = rule.event
    cadence: Cadence = "weekly_summary" if rule.cadence == "weekly_summary" else "daily_digest"

    def figures(what: str, p: Period) -> dict[Tier, repo.TierFigures]:
        return repo.happened_by_tier(
            session=session, event=what, start=p.start, end=p.end, scope=scope
        )

    by_tier = figures(event, period)
    count = sum(f.count for f in by_tier.values())
    listed = repo.happened_lines(
        session=session,
        event=event,
        start=period.start,
        end=period.end,
        scope=scope,
        limit=LISTED[cadence],
    )
    lines = [_line(h) for h in listed] or ["(none)"]
    if count > len(listed):
        lines.append(f"... and {count - len(listed)} more")
    backlog = repo.backlog_by_tier(session=session, today=now.date(), scope=scope)
    value = sum((f.value for f in by_tier.values()), Decimal("0.00"))
    words = _EVENT_WORDS[event]
    context: dict[str, Any] = {
        "period": period.label,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "scope": _scope_text(scope),
        "event": event,
        "event_label": words,
        "event_title": words[0].upper() + words[1:],
        "happened_count": count,
        "happened_units": sum(f.units for f in by_tier.values()),
        "happened_value": usd(value),
        "happened_lines": "\n".join(lines),
        "backlog": _backlog_text(backlog, scope, now),
        "as_of": now.isoformat(),
        "backlog_by_tier": {
            t.value: {**asdict(b), "open_value": str(b.open_value)} for t, b in backlog.items()
        },
    }
    if cadence == "weekly_summary":
        previous = figures(event, period.previous())
        causes = repo.happened_by_root_cause(
            session=session, event=event, start=period.start, end=period.end, scope=scope
        )
        context.update(
            previous_count=sum(f.count for f in previous.values()),
            happened_by_tier="; ".join(
                f"{tier_label(t)} {by_tier[t].count} ({by_tier[t].units} units,"
                f" {usd(by_tier[t].value)})"
                for t in Tier
                if t in by_tier
            )
            or "none",
            happened_by_root_cause=", ".join(
                f"{c.value.replace('_', ' ')} {n}"
                for c, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0].value))
            )
            or "none",
            resolved_count=sum(f.count for f in figures("resolved", period).values()),
            escalated_in_period=sum(f.count for f in figures("escalated", period).values()),
        )
    return context, count, sum(b.open for b in backlog.values())


def _recipients(
    session: Session, rule: NotificationRule, period: Period
) -> list[tuple[str, Scope]]:
    base = Scope(tiers=rule.tiers)
    out: list[tuple[str, Scope]] = []
    for role in rule.roles:
        if role != "account_manager":
            out.append((recipient_for(role), base))
            continue
        managers = repo.account_managers(
            session=session, event=rule.event, start=period.start, end=period.end, scope=base
        )
        out += [(f"user:{m}", Scope(tiers=rule.tiers, account_manager=m)) for m in managers]
    return list(dict.fromkeys(out))


def digest_rules(policy: Policy) -> list[NotificationRule]:
    """The policy's ``daily_digest`` and ``weekly_summary`` rules, in policy order."""
    return [r for r in policy.notifications if r.cadence in DIGEST_CADENCES]


def run(session: Session, *, now: datetime | None = None) -> DigestReport:
    """Enqueue the digest of the last complete period of every digest rule of the policy in
    force, once per (rule, recipient, period)."""
    now = as_utc(now or utcnow())
    report = DigestReport(now=now)
    channels = set(get_settings().notify_sinks)
    for rule in digest_rules(policy_in_force(session)):
        cadence: Cadence = "weekly_summary" if rule.cadence == "weekly_summary" else "daily_digest"
        period = last_complete(cadence, now)
        tiers = tuple(t.value for t in rule.tiers)
        if rule.event not in DIGEST_EVENTS:
            report.outcomes.append(
                DigestOutcome(
                    rule.cadence,
                    rule.event,
                    tiers,
                    ",".join(rule.roles),
                    period.label,
                    "unsupported_event",
                )
            )
            continue
        for recipient, scope in _recipients(session, rule, period):
            key = dedupe_key(rule, period, recipient)
            outcome = DigestOutcome(rule.cadence, rule.event, tiers, recipient, period.label, "")
            if channels <= repo.channels_holding(session=session, dedupe_key=key):
                report.outcomes.append(_with(outcome, "already_enqueued"))
                continue
            context, happened, backlog = build_context(
                session, rule=rule, period=period, scope=scope, now=now
            )
            if happened == 0 and backlog == 0:
                report.outcomes.append(_with(outcome, "nothing_to_report"))
                continue
            ids = outbox.enqueue(
                session,
                kind=cadence,
                recipient=recipient,
                context=context,
                dedupe_key=key,
                now=now,
            )
            report.outcomes.append(
                _with(outcome, "enqueued", happened=happened, notifications=len(ids))
            )
    session.flush()
    return report


def _with(outcome: DigestOutcome, what: str, **more: int) -> DigestOutcome:
    return DigestOutcome(**{**asdict(outcome), "outcome": what, **more})
