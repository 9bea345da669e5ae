"""The message templates of every notification kind (``string.Template``, ``$name`` fields).

A template names the context keys it needs; rendering with a key missing is an error at enqueue
time (:class:`NotificationTemplateError`), never a message with a hole in it. Values are rendered
with ``str``; callers pass money already formatted (``$12,500.00``) and dates as ISO strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from allotment.errors import AppError


class NotificationTemplateError(AppError):
    """No template for the kind, or the context lacks a field the template uses."""

    status_code = 422
    code = "notification_template_invalid"


@dataclass(frozen=True)
class MessageTemplate:
    """A subject and a body template for one kind of notification."""

    subject: Template
    body: Template

    def fields(self) -> frozenset[str]:
        """The context keys the template uses."""
        return frozenset(self.subject.get_identifiers()) | frozenset(self.body.get_identifiers())


def _t(subject: str, body: str) -> MessageTemplate:
    return MessageTemplate(Template(subject), Template(body))


TEMPLATES: Mapping[str, MessageTemplate] = {
    "escalation": _t(
        "[$level_label] Backorder $backorder_number is $days_overdue days overdue",
        "Backorder $backorder_number ($customer_name, $tier) was promised for $promised_date"
        " and is $days_overdue days overdue.\n"
        "Escalation level: $days_threshold days overdue -> $action ($role).\n"
        "Open quantity: $open_quantity; value at risk: $value_at_risk.\n"
        "Status: $status.",
    ),
    "approval_waiting": _t(
        "Approval needed: $kind_label for backorder $backorder_number ($amount)",
        "Recommendation $recommendation_id ($kind_label for backorder $backorder_number)"
        " waits for approval by the $role.\n"
        "Routed amount: $amount; net value: $net_value.\n"
        "Chain: $chain.\n"
        "$explanation",
    ),
    "approval_auto": _t(
        "Approved automatically: $kind_label for backorder $backorder_number ($amount)",
        "Recommendation $recommendation_id ($kind_label for backorder $backorder_number) was"
        " approved automatically: its routed amount $amount is under the approval threshold.\n"
        "Net value: $net_value. You are told for information; nothing waits for you.\n"
        "$explanation",
    ),
    "approval_reminder": _t(
        "Reminder: recommendation $recommendation_id has waited $hours_waiting hours",
        "Recommendation $recommendation_id ($kind_label for backorder $backorder_number,"
        " routed amount $amount) has waited $hours_waiting hours for approval"
        " (reminder $reminder; the policy reminds every $remind_after_hours hours).\n"
        "Chain: $chain.",
    ),
    "backorder_created": _t(
        "New backorder $backorder_number: $quantity x $sku for $customer_name",
        "Backorder $backorder_number was opened for $customer_name ($customer_code, $tier):"
        " order $order_number line $line_no, $quantity x $sku ($product_name).\n"
        "Root cause: $root_cause_label. Expected: $eta. Value at risk: $value_at_risk.\n"
        "Reason: $reason",
    ),
    # Digests: the lists and tables are formatted by allotment.notify.digest (one line each).
    "daily_digest": _t(
        "Daily digest $period: $happened_count $event_label ($happened_value)",
        "Daily backorder digest for $period (UTC, $period_start to $period_end), $scope.\n"
        "\n"
        "$event_title: $happened_count ($happened_units units, $happened_value).\n"
        "$happened_lines\n"
        "\n"
        "$backlog",
    ),
    "weekly_summary": _t(
        "Weekly summary $period: $happened_count $event_label ($happened_value)",
        "Weekly backorder summary for $period (UTC, $period_start to $period_end), $scope.\n"
        "\n"
        "$event_title: $happened_count ($happened_units units, $happened_value);"
        " previous week: $previous_count.\n"
        "By tier: $happened_by_tier.\n"
        "By root cause: $happened_by_root_cause.\n"
        "Largest:\n"
        "$happened_lines\n"
        "\n"
        "In the week: $resolved_count resolved, $escalated_in_period escalated.\n"
        "$backlog",
    ),
    "customer_eta_change": _t(
        "New expected date for your order $order_number",
        "Dear $customer_name,\n"
        "the expected delivery date of $quantity x $product_name on order $order_number"
        " (line $line_no) has changed from $old_eta to $new_eta.\n"
        "Reference: $backorder_number.",
    ),
}


def render(kind: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """The subject and body of a ``kind`` notification with ``context`` filled in.

    Parameters
    ----------
    kind
        A key of :data:`TEMPLATES`.
    context
        Values for the template's fields (extra keys are allowed and ignored).

    Returns
    -------
    tuple of str
        ``(subject, body)``.

    Raises
    ------
    NotificationTemplateError
        An unknown kind, or a field the template uses missing from ``context``.
    """
    template = TEMPLATES.get(kind)
    if template is None:
        raise NotificationTemplateError(
            f"no template for notification kind {kind!r}; known: {', '.join(sorted(TEMPLATES))}",
            field="kind",
        )
    missing = sorted(template.fields() - set(context))
    if missing:
        raise NotificationTemplateError(
            f"notification {kind!r} needs {', '.join(missing)} in its context", field="context"
        )
    values = {k: str(v) for k, v in context.items()}
    return template.subject.substitute(values), template.body.substitute(values)
