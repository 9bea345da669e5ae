"""The outbox: enqueue notifications in the caller's transaction (public API for other modules).

A notification is rendered from its template when it is enqueued and stored once per configured
sink (``ALLOTMENT_NOTIFY_SINKS``: one row per channel, so a webhook that is down never re-sends
the log line). ``dedupe_key`` makes enqueueing idempotent: the same key (per channel) is stored
once, however often and however concurrently it is enqueued. ``allotment notify`` delivers.

Nothing here commits: the notification is written, or rolled back, with the change it reports.

Recipients are strings: ``role:<role>`` (everyone holding a role), ``user:<name>``,
``customer:<code>``, or an e-mail address. The SMTP sink looks a non-address recipient up in
``ALLOTMENT_NOTIFY_ADDRESSES``.

Example (events ingestion, after moving a backorder's ETA)::

    from allotment.notify.outbox import notify_eta_change
    notify_eta_change(
        session, backorder, old_eta=date(2026, 3, 1), new_eta=date(2026, 3, 9), event_id=event.id
    )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from allotment.audit.canonical import normalize
from allotment.config import NOTIFY_SINKS, get_settings
from allotment.db.types import utcnow
from allotment.domain.models import (
    Backorder,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    Product,
    Recommendation,
)
from allotment.errors import AppError
from allotment.notify import repository as repo
from allotment.notify.templates import render
from allotment.policy.routing import role_label, usd

_SUBJECT_MAX = 300
_RECIPIENT_MAX = 200
_KEY_MAX = 200


class NotificationInvalidError(AppError):
    """A notification that cannot be enqueued as given (empty recipient, unknown channel...)."""

    status_code = 422
    code = "notification_invalid"


def _check(name: str, value: str, limit: int) -> None:
    if not value.strip():
        raise NotificationInvalidError(f"a notification needs a non-empty {name}", field=name)
    if len(value) > limit:
        raise NotificationInvalidError(
            f"notification {name} is longer than {limit} characters", field=name
        )


def enqueue(
    session: Session,
    *,
    kind: str,
    recipient: str,
    context: Mapping[str, Any],
    dedupe_key: str,
    channels: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Render a ``kind`` notification for ``recipient`` and put it in the outbox (written now).

    Parameters
    ----------
    session
        The caller's session; the notification commits or rolls back with its transaction.
    kind
        A template name of :data:`allotment.notify.templates.TEMPLATES` (``escalation``,
        ``approval_waiting``, ``approval_auto``, ``approval_reminder``, ``customer_eta_change``).
    recipient
        ``role:<role>``, ``user:<name>``, ``customer:<code>`` or an e-mail address.
    context
        The template's fields (also stored as the notification's JSON payload; Decimals and
        dates are stored as strings).
    dedupe_key
        What makes two notifications the same one, e.g. ``"escalation:42:7:role:manager"``; a
        key already in the outbox (for a channel) is not enqueued again.
    channels
        The sinks to deliver to; default the configured ``ALLOTMENT_NOTIFY_SINKS``.
    now
        The enqueue time (UTC; default now): ``created_at`` and the first ``next_attempt_at``.

    Returns
    -------
    list of int
        Ids of the rows written, one per channel not already holding ``dedupe_key`` (empty
        when the notification was already enqueued).

    Raises
    ------
    NotificationTemplateError
        Unknown ``kind`` or a template field missing from ``context``.
    NotificationInvalidError
        Empty or too long recipient or key, an unknown channel, or a context that is not JSON.
    """
    ids = []
    for values in notification_rows(
        kind=kind,
        recipient=recipient,
        context=context,
        dedupe_key=dedupe_key,
        channels=channels,
        now=now,
    ):
        new_id = repo.insert_new(session=session, values=values)
        if new_id is not None:
            ids.append(new_id)
    return ids


def notification_rows(
    *,
    kind: str,
    recipient: str,
    context: Mapping[str, Any],
    dedupe_key: str,
    channels: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows :func:`enqueue` writes (one per channel), checked and rendered; for
    callers that write many at once (:func:`repo.insert_many_new`). Same parameters and errors
    as :func:`enqueue`."""
    _check("recipient", recipient, _RECIPIENT_MAX)
    _check("dedupe_key", dedupe_key, _KEY_MAX)
    wanted = tuple(channels) if channels is not None else get_settings().notify_sinks
    unknown = [c for c in wanted if c not in NOTIFY_SINKS]
    if unknown or not wanted:
        raise NotificationInvalidError(
            f"unknown notification channel(s) {', '.join(unknown) or '(none)'};"
            f" known: {', '.join(NOTIFY_SINKS)}",
            field="channels",
        )
    try:
        payload = normalize(dict(context))
    except (TypeError, ValueError) as exc:
        raise NotificationInvalidError(f"notification context: {exc}", field="context") from None
    subject, body = render(kind, context)
    at = now or utcnow()
    return [
        {
            "kind": kind,
            "recipient": recipient,
            "channel": channel,
            "subject": subject[:_SUBJECT_MAX],
            "body": body,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
            "dedupe_key": dedupe_key,
        }
        for channel in dict.fromkeys(wanted)
    ]


def order_parts(
    session: Session, backorder: Backorder
) -> tuple[CustomerOrderLine, CustomerOrder, Customer, Product]:
    """The order line, order, customer and product of ``backorder`` (from the identity map when
    the caller already loaded them)."""
    line = session.get(CustomerOrderLine, backorder.order_line_id)
    assert line is not None  # a foreign key
    order = session.get(CustomerOrder, line.order_id)
    assert order is not None
    customer = session.get(Customer, order.customer_id)
    product = session.get(Product, line.product_id)
    assert customer is not None and product is not None
    return line, order, customer, product


def order_context(session: Session, backorder: Backorder) -> dict[str, Any]:
    """The template fields that name a backorder's order line, customer and product."""
    line, order, customer, product = order_parts(session, backorder)
    return {
        "backorder_id": backorder.id,
        "backorder_number": backorder.number,
        "order_number": order.number,
        "line_no": line.line_no,
        "customer_code": customer.code,
        "customer_name": customer.name,
        "product_name": product.name,
        "sku": product.sku,
        "quantity": backorder.open_quantity,
    }


def notify_eta_change(
    session: Session,
    backorder: Backorder,
    old_eta: date | None,
    new_eta: date,
    *,
    event_id: str | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Tell the customer of ``backorder`` that its expected date moved to ``new_eta``.

    The message (template ``customer_eta_change``) goes to ``customer:<code>``; the SMTP sink
    needs that recipient's address in ``ALLOTMENT_NOTIFY_ADDRESSES`` (or a default address).
    An unchanged ETA sends nothing. Deduplicated per backorder and ``event_id`` (the ingested
    event's idempotency key) when given — pass it, so that an ETA that moves A → B → A → B
    tells the customer each time — else per backorder and change (old → new ETA), so the same
    change enqueued twice sends one message.

    Returns
    -------
    list of int
        Ids of the notifications enqueued (empty when unchanged or already enqueued).
    """
    if old_eta == new_eta:
        return []
    ids = []
    for values in eta_change_rows(
        order_context(session, backorder), old_eta, new_eta, event_id=event_id, now=now
    ):
        new_id = repo.insert_new(session=session, values=values)
        if new_id is not None:
            ids.append(new_id)
    return ids


def eta_change_rows(
    order_context: Mapping[str, Any],
    old_eta: date | None,
    new_eta: date,
    *,
    event_id: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows of :func:`notify_eta_change`, given the backorder's order context (the
    keys :func:`order_context` returns); none when the ETA did not move."""
    if old_eta == new_eta:
        return []
    context = dict(order_context)
    context.update(
        old_eta=old_eta.isoformat() if old_eta else "not set", new_eta=new_eta.isoformat()
    )
    return notification_rows(
        kind="customer_eta_change",
        recipient=f"customer:{context['customer_code']}",
        context=context,
        dedupe_key=f"customer_eta_change:{context['backorder_id']}:"
        + (f"event:{event_id}" if event_id else f"{context['old_eta']}->{context['new_eta']}"),
        now=now,
    )


def recommendation_context(session: Session, recommendation: Recommendation) -> dict[str, Any]:
    """The template fields every approval notification shares."""
    backorder = session.get(Backorder, recommendation.backorder_id)
    assert backorder is not None  # a foreign key
    chain = [str(r) for r in (recommendation.route or {}).get("chain", [])]
    return {
        "recommendation_id": recommendation.id,
        "backorder_id": backorder.id,
        "backorder_number": backorder.number,
        "kind": recommendation.kind,
        "kind_label": recommendation.kind.replace("_", " "),
        "amount": usd(recommendation.routed_amount),
        "net_value": usd(recommendation.net_value),
        "chain": " -> ".join(role_label(r) for r in chain) or "automatic",
        "explanation": recommendation.explanation,
    }


def notify_approval_waiting(
    session: Session,
    recommendation: Recommendation,
    role: str,
    *,
    approval_round: int = 1,
    now: datetime | None = None,
) -> list[int]:
    """Tell ``role`` that ``recommendation`` waits for its approval (once per role and round).

    Call it when a recommendation reaches the step ``role`` must sign; deduplicated per
    recommendation, role and ``approval_round`` — pass a higher round when a changed
    recommendation's approvals were voided and it must be signed again. Reminders for
    recommendations that keep waiting come from ``allotment escalate``.

    Returns
    -------
    list of int
        Ids of the notifications enqueued (empty when already enqueued).
    """
    context = recommendation_context(session, recommendation)
    context["role"] = role_label(role)
    return enqueue(
        session,
        kind="approval_waiting",
        recipient=f"role:{role}",
        context=context,
        dedupe_key=f"approval_waiting:{recommendation.id}:{approval_round}:{role}",
        now=now,
    )


def notify_auto_approved(
    session: Session,
    recommendation: Recommendation,
    roles: Sequence[str],
    *,
    now: datetime | None = None,
) -> list[int]:
    """Tell ``roles`` (the policy's ``notify_on_auto``) that ``recommendation`` was approved
    automatically, under the approval threshold: notification only, once per recommendation and
    role.

    Returns
    -------
    list of int
        Ids of the notifications enqueued (empty when already enqueued or nobody to tell).
    """
    ids: list[int] = []
    context = recommendation_context(session, recommendation)
    for role in roles:
        ids += enqueue(
            session,
            kind="approval_auto",
            recipient=f"role:{role}",
            context=context,
            dedupe_key=f"approval_auto:{recommendation.id}:{role}",
            now=now,
        )
    return ids
