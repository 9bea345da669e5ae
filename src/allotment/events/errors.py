"""Errors of event ingestion."""

from __future__ import annotations

from allotment.errors import AppError, NotFoundError


class EventPayloadMismatchError(AppError):
    """An event id already received with another payload (``field`` names the first difference)."""

    status_code = 422
    code = "event_payload_mismatch"


class EventReferenceError(NotFoundError):
    """An event names something that does not exist (a PO line, an order, a customer, ...)."""
