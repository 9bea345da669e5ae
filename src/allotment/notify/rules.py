"""The policy's notification rules for new backorders, and how a rule's role becomes a recipient.

A rule (``policy.notifications``: event, roles, cadence, tiers) says who hears about what and how
soon. This module applies the ``immediate`` rules of ``backorder_created``;
:mod:`allotment.notify.digest` the ``daily_digest`` and ``weekly_summary`` ones, and
:mod:`allotment.escalation.service` the ``immediate`` rules of ``escalated``.

**Recipients.** A rule names roles, not people, and some of them (``sales_rep``,
``purchasing_manager``, ``operations_director``, ``executive``) are not roles of the API's users.
Nobody is invented: a role is addressed as ``role:<role>`` — a mailbox or distribution list the
operator maps to an address in ``ALLOTMENT_NOTIFY_ADDRESSES`` (the SMTP sink; without an entry or
``ALLOTMENT_NOTIFY_SMTP_DEFAULT_TO`` the message is a dead letter, listed by
``allotment notify --list --status dead``). The one role with a person on record is the
customer's account manager (``customers.account_manager``): ``account_manager`` becomes
``user:<that name>`` when the customer has one, else ``role:account_manager``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.models import Backorder, Customer
from allotment.notify import outbox
from allotment.notify import repository as repo
from allotment.policy.routing import tier_label, usd
from allotment.policy.schema import NotificationRule, Policy

#: The rule event and cadence this module applies when a backorder is created.
CREATED = "backorder_created"


def recipient_for(
    role: str, customer: Customer | None = None, *, account_manager: str | None = None
) -> str:
    """The outbox recipient of a rule's ``role`` about ``customer`` (or a customer whose
    account manager is ``account_manager``; see the module docstring)."""
    manager = customer.account_manager if customer is not None else account_manager
    if role == "account_manager" and manager:
        return f"user:{manager}"
    return f"role:{role}"


def applies(rule: NotificationRule, customer: Customer) -> bool:
    """Whether ``rule``'s tier filter lets ``customer`` through (no filter: every tier)."""
    return admits(rule, customer.tier)


def admits(rule: NotificationRule, tier: Tier) -> bool:
    """Whether ``rule``'s tier filter lets a customer of ``tier`` through."""
    return not rule.tiers or tier in rule.tiers


def immediate_rules(policy: Policy, event: str) -> list[NotificationRule]:
    """The policy's ``immediate`` rules for ``event``, in policy order."""
    return [r for r in policy.notifications if r.event == event and r.cadence == "immediate"]


def notify_backorder_created(
    session: Session,
    backorder: Backorder,
    *,
    rules: list[NotificationRule],
    now: datetime | None = None,
) -> list[int]:
    """Enqueue the ``backorder_created`` message to every role of ``rules`` whose tiers match.

    One message per recipient, however many rules name it; deduplicated per backorder and
    recipient, so enqueueing again (a retried unit of work, a second call) adds nothing. Nothing
    commits: the messages are written, or rolled back, with the backorder.

    Parameters
    ----------
    rules
        The policy's immediate ``backorder_created`` rules (:func:`immediate_rules`).
    now
        The enqueue time (default: the backorder's ``created_at``, which event ingestion sets to
        the event's ``occurred_at``).

    Returns
    -------
    list of int
        Ids of the notifications written (empty when no rule applies or already enqueued).
    """
    if not rules:
        return []
    _, _, customer, _ = outbox.order_parts(session, backorder)
    ids: list[int] = []
    for values in created_rows(
        rules,
        tier=customer.tier,
        account_manager=customer.account_manager,
        context=outbox.order_context(session, backorder),
        backorder_id=backorder.id,
        root_cause=backorder.root_cause.value,
        eta=backorder.expected_fulfillment_date,
        value_at_risk=backorder.value_at_risk,
        reason=backorder.reason,
        created_at=backorder.created_at,
        now=now,
    ):
        new_id = repo.insert_new(session=session, values=values)
        if new_id is not None:
            ids.append(new_id)
    return ids


def created_rows(
    rules: Sequence[NotificationRule],
    *,
    tier: Tier,
    account_manager: str | None,
    context: Mapping[str, Any],
    backorder_id: int,
    root_cause: str,
    eta: date | None,
    value_at_risk: Decimal,
    reason: str | None,
    created_at: datetime,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows of :func:`notify_backorder_created`, from plain values (event batches
    write them set-wise once the backorder has its id and number).

    ``context`` holds the order fields of :func:`outbox.order_context`; ``tier`` and
    ``account_manager`` are the customer's when the backorder was created.
    """
    recipients = [
        recipient_for(role, account_manager=account_manager)
        for rule in rules
        if admits(rule, tier)
        for role in rule.roles
    ]
    if not recipients:
        return []
    full = dict(context)
    full.update(
        tier=tier_label(tier),
        root_cause=root_cause,
        root_cause_label=root_cause.replace("_", " "),
        eta=eta.isoformat() if eta else "not known yet",
        value_at_risk=usd(value_at_risk),
        reason=reason or "(none given)",
        created_at=created_at.isoformat(),
    )
    rows: list[dict[str, Any]] = []
    for recipient in dict.fromkeys(recipients):
        rows += outbox.notification_rows(
            kind=CREATED,
            recipient=recipient,
            context=full,
            dedupe_key=f"{CREATED}:{backorder_id}:{recipient}",
            now=now or created_at,
        )
    return rows
