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

from datetime import datetime

from sqlalchemy.orm import Session

from allotment.domain.models import Backorder, Customer
from allotment.notify import outbox
from allotment.policy.routing import tier_label, usd
from allotment.policy.schema import NotificationRule, Policy

#: The rule event and cadence this module applies when a backorder is created.
CREATED = "backorder_created"


def recipient_for(role: str, customer: Customer | None = None) -> str:
    """The outbox recipient of a rule's ``role`` about ``customer`` (see the module docstring)."""
    if role == "account_manager" and customer is not None and customer.account_manager:
        return f"user:{customer.account_manager}"
    return f"role:{role}"


def applies(rule: NotificationRule, customer: Customer) -> bool:
    """Whether ``rule``'s tier filter lets ``customer`` through (no filter: every tier)."""
    return not rule.tiers or customer.tier in rule.tiers


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
    recipients = [
        recipient_for(role, customer)
        for rule in rules
        if applies(rule, customer)
        for role in rule.roles
    ]
    if not recipients:
        return []
    context = outbox.order_context(session, backorder)
    eta = backorder.expected_fulfillment_date
    context.update(
        tier=tier_label(customer.tier),
        root_cause=backorder.root_cause.value,
        root_cause_label=backorder.root_cause.value.replace("_", " "),
        eta=eta.isoformat() if eta else "not known yet",
        value_at_risk=usd(backorder.value_at_risk),
        reason=backorder.reason or "(none given)",
        created_at=backorder.created_at.isoformat(),
    )
    ids: list[int] = []
    for recipient in dict.fromkeys(recipients):
        ids += outbox.enqueue(
            session,
            kind=CREATED,
            recipient=recipient,
            context=context,
            dedupe_key=f"{CREATED}:{backorder.id}:{recipient}",
            now=now or backorder.created_at,
        )
    return ids
