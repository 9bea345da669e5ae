"""Where notifications go: a JSON-lines log file, an HTTP webhook, an SMTP server.

A sink delivers one message or raises :class:`DeliveryError` (worth retrying: a timeout, a
refused connection, HTTP 5xx/408/429, SMTP 4xx) or :class:`PermanentDeliveryError` (retrying
cannot help: HTTP 4xx, SMTP 5xx, no address for the recipient), which dead-letters it at once.
Deliveries are at-least-once: a receiver deduplicates on ``id`` (the webhook also sends it as
the ``Idempotency-Key`` header, the e-mail as ``X-Allotment-Notification-Id``).
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from allotment.config import Settings
from allotment.db.types import utcnow
from allotment.errors import AppError


class DeliveryError(Exception):
    """A delivery failed in a way that may pass: try again later."""


class PermanentDeliveryError(DeliveryError):
    """A delivery that can never succeed as configured: dead-letter it."""


class NotifySinkConfigError(AppError):
    """A configured sink lacks a setting it needs (e.g. the webhook URL)."""

    status_code = 500
    code = "notify_sink_config_invalid"


@dataclass(frozen=True)
class Outgoing:
    """A notification as a sink sees it (a detached copy of the outbox row)."""

    id: int
    kind: str
    recipient: str
    channel: str
    subject: str
    body: str
    payload: dict[str, Any]
    created_at: datetime
    dedupe_key: str
    attempt: int

    @classmethod
    def of(cls, row: Any) -> Outgoing:
        """From an outbox row (a :class:`Notification` or a row of its claimed columns)."""
        return cls(
            id=row.id,
            kind=row.kind,
            recipient=row.recipient,
            channel=row.channel,
            subject=row.subject,
            body=row.body,
            payload=dict(row.payload),
            created_at=row.created_at,
            dedupe_key=row.dedupe_key,
            attempt=row.attempts,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON document the log line and the webhook body carry."""
        return {
            "id": self.id,
            "kind": self.kind,
            "recipient": self.recipient,
            "subject": self.subject,
            "body": self.body,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
            "dedupe_key": self.dedupe_key,
            "attempt": self.attempt,
        }


class Sink(Protocol):
    name: str

    def deliver(self, message: Outgoing) -> None: ...


class LogSink:
    """Appends one JSON object per line (with ``delivered_at``) to a file, fsynced."""

    name = "log"

    def __init__(self, path: Path) -> None:
        self.path = path

    def deliver(self, message: Outgoing) -> None:
        line = json.dumps(
            {**message.to_json(), "delivered_at": utcnow().isoformat()},
            ensure_ascii=False,
            sort_keys=True,
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise DeliveryError(f"cannot append to {self.path}: {exc}") from None


# HTTP statuses worth retrying: timeout, too many requests, and every server error.
_RETRY_HTTP = frozenset({408, 425, 429})


class WebhookSink:
    """POSTs the notification as JSON; any 2xx is delivered."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    def deliver(self, message: Outgoing) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(message.to_json(), ensure_ascii=False).encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": f"allotment-notification-{message.id}",
                "User-Agent": "allotment-notify",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            text = f"webhook answered HTTP {exc.code} {exc.reason}"
            exc.close()
            if exc.code >= 500 or exc.code in _RETRY_HTTP:
                raise DeliveryError(text) from None
            raise PermanentDeliveryError(text) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook unreachable: {reason}") from None


class SmtpSink:
    """Sends a plain-text e-mail through an SMTP server."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.host = settings.notify_smtp_host
        self.port = settings.notify_smtp_port
        self.sender = settings.notify_smtp_from
        self.starttls = settings.notify_smtp_starttls
        self.username = settings.notify_smtp_username
        self.password = settings.notify_smtp_password
        self.timeout = settings.notify_smtp_timeout_seconds
        self.addresses: Mapping[str, str] = settings.notify_addresses
        self.default_to = settings.notify_smtp_default_to

    def address_of(self, recipient: str) -> str:
        """The e-mail address of a recipient, else :class:`PermanentDeliveryError`."""
        if recipient in self.addresses:
            return self.addresses[recipient]
        if "@" in recipient and ":" not in recipient:
            return recipient
        if self.default_to:
            return self.default_to
        raise PermanentDeliveryError(
            f"no e-mail address for {recipient!r}: add it to ALLOTMENT_NOTIFY_ADDRESSES"
            " or set ALLOTMENT_NOTIFY_SMTP_DEFAULT_TO"
        )

    def deliver(self, message: Outgoing) -> None:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = self.address_of(message.recipient)
        email["Subject"] = message.subject
        email["X-Allotment-Notification-Id"] = str(message.id)
        email["X-Allotment-Kind"] = message.kind
        email.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    password = self.password.get_secret_value() if self.password else ""
                    smtp.login(self.username, password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            text = f"SMTP refused the recipient: {exc.recipients}"
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(text) from None
            raise DeliveryError(text) from None
        except smtplib.SMTPResponseException as exc:
            text = f"SMTP answered {exc.smtp_code} {exc.smtp_error!r}"
            if exc.smtp_code >= 500:
                raise PermanentDeliveryError(text) from None
            raise DeliveryError(text) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP server {self.host}:{self.port}: {exc}") from None


def sinks_from_settings(settings: Settings) -> dict[str, Sink]:
    """The configured sinks by channel name (``ALLOTMENT_NOTIFY_SINKS``).

    Raises
    ------
    NotifySinkConfigError
        ``webhook`` without ``ALLOTMENT_NOTIFY_WEBHOOK_URL``.
    """
    sinks: dict[str, Sink] = {}
    for name in settings.notify_sinks:
        if name == "log":
            sinks[name] = LogSink(settings.resolved_notify_log_path)
        elif name == "webhook":
            if not settings.notify_webhook_url:
                raise NotifySinkConfigError(
                    "the webhook sink needs ALLOTMENT_NOTIFY_WEBHOOK_URL",
                    field="notify_webhook_url",
                )
            if not settings.notify_webhook_url.lower().startswith(("http://", "https://")):
                raise NotifySinkConfigError(
                    "ALLOTMENT_NOTIFY_WEBHOOK_URL must be an http:// or https:// URL",
                    field="notify_webhook_url",
                )
            sinks[name] = WebhookSink(
                settings.notify_webhook_url, timeout=settings.notify_webhook_timeout_seconds
            )
        elif name == "smtp":
            sinks[name] = SmtpSink(settings)
    return sinks
