"""Errors of event ingestion."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from allotment.errors import AppError, NotFoundError


class EventPayloadMismatchError(AppError):
    """An event id already received with another payload (``field`` names the first difference)."""

    status_code = 422
    code = "event_payload_mismatch"


class EventReferenceError(NotFoundError):
    """An event names something that does not exist (a PO line, an order, a customer, ...)."""


def describe(exc: BaseException) -> str:
    """What a parked event's record says of its error."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}"[:2000]


def is_fatal(exc: BaseException) -> bool:
    """Database failures that are not the event's fault: fail the batch, never park."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
