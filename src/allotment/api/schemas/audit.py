"""Audit trail and notification outbox bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class AuditRecordRead(BaseModel):
    """One audit record with its chain links (``hash`` = sha256(prev_hash + content))."""

    id: int
    occurred_at: datetime
    actor: str
    role: str | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    model_versions: dict[str, Any] | None
    policy_version_id: int | None
    prev_hash: str
    hash: str


class AuditVerifyRead(BaseModel):
    """The chain checked oldest first: ``ok``, or the first broken record and why."""

    ok: bool
    checked: int
    first_broken_id: int | None
    problem: Literal["hash_mismatch", "broken_link"] | None
    detail: str
    head_hash: str | None


class NotificationRead(BaseModel):
    """One outbox row (a notification for one channel)."""

    id: int
    kind: str
    recipient: str
    channel: str
    subject: str
    body: str
    payload: dict[str, Any]
    status: Literal["pending", "retrying", "sent", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    dedupe_key: str
