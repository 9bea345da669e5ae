"""Event ingestion responses (the request bodies are :mod:`allotment.events.schemas`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class EventResultRead(BaseModel):
    """What one event did. A ``duplicate`` returns its first delivery's status and result."""

    index: int = Field(description="Position in the request (0 for a single event).")
    event_id: str
    type: str
    status: Literal["applied", "duplicate", "stale", "parked"]
    first_status: Literal["applied", "stale", "parked"] | None = Field(
        description="For a duplicate: what the first delivery of this id did."
    )
    touched: dict[str, Any] = Field(description="What the effect changed (ids, statuses).")
    error: str | None = Field(description="Why a parked event's effect failed.")


class EventsIngested(BaseModel):
    """Per-event results, in request order, and the re-scoring they queued."""

    results: list[EventResultRead]
    counts: dict[str, int]
    rescore_queued: int = Field(description="Backorders queued for re-scoring by this batch.")
    rescore: Literal["scheduled", "deferred"] = Field(
        description="`scheduled`: re-scored right after this response; `deferred`: left queued."
    )
