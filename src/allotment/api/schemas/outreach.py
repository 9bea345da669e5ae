"""Outreach bodies: the call list with each customer's last contact; recording a contact."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from allotment.api.schemas.common import RequestBody
from allotment.domain.enums import ContactOutcome
from allotment.outreach.service import OutreachEntry


class ContactCreate(RequestBody):
    """The customer was contacted; how it went. Who and when are the server's."""

    outcome: ContactOutcome
    note: str | None = Field(default=None, max_length=2000)


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    contacted_at: datetime
    contacted_by: str
    outcome: ContactOutcome
    note: str | None


class OutreachItem(BaseModel):
    """A customer to call (rank, reasons, options, orders) and when they were last contacted."""

    customer: OutreachEntry
    last_contact: ContactRead | None


class OutreachListRead(BaseModel):
    """The ranked call list (USD), the policy it follows, what it was computed from."""

    policy: str
    customers_considered: int
    unscored_backorders: int
    items: list[OutreachItem]
