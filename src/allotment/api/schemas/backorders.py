"""Backorder bodies: list rows, the detail view, manual creation, status transitions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, StrictInt

from allotment.api.schemas.common import MAX_INT, IsoDate, RequestBody
from allotment.domain.enums import AllocationStatus, BackorderStatus, RootCause, Tier


class CustomerRef(BaseModel):
    id: int
    code: str
    name: str
    tier: Tier
    account_manager: str | None


class ProductRef(BaseModel):
    id: int
    sku: str
    name: str
    category: str


class BackorderListItem(BaseModel):
    """One row of the backorder queue. Money in USD (exact decimals, sent as strings)."""

    id: int
    number: str
    status: BackorderStatus
    customer: CustomerRef
    product: ProductRef
    location_id: int
    order_line_id: int
    po_line_id: int | None
    supplier_id: int | None
    quantity: int
    open_quantity: int
    value_at_risk: Decimal
    priority: float | None
    p_churn: float | None = Field(description="Latest scored churn risk (0..1).")
    p_sla_breach: float | None = Field(description="Latest scored SLA-breach risk (0..1).")
    root_cause: RootCause
    expected_fulfillment_date: date | None
    created_at: datetime
    age_days: int = Field(description="Whole days since the backorder was created.")


class OrderLineRead(BaseModel):
    id: int
    order_id: int
    order_number: str
    line_no: int
    quantity: int
    shipped_quantity: int
    unit_price: Decimal
    requested_date: date
    promised_date: date
    is_emergency: bool
    location_id: int


class PoLineRead(BaseModel):
    id: int
    purchase_order_number: str
    supplier_id: int
    line_no: int
    quantity: int
    received_quantity: int
    promised_date: date
    current_eta: date | None


class StatusChangeRead(BaseModel):
    from_status: BackorderStatus | None
    to_status: BackorderStatus
    changed_at: datetime
    changed_by: str
    reason: str


class PolicyRef(BaseModel):
    id: int
    name: str
    version: int


class ScoreRead(BaseModel):
    """The latest score: risks, priority and its components (they add up to the priority)."""

    run_id: int
    scored_at: datetime
    priority: float
    components: dict[str, Any]
    p_supplier_delay: float | None
    p_sla_breach: float | None
    p_churn: float | None
    degraded: bool
    flags: list[Any]
    model_versions: dict[str, Any]
    policy: PolicyRef | None


class BackorderDetail(BaseModel):
    id: int
    number: str
    status: BackorderStatus
    allocation_status: AllocationStatus
    quantity: int
    open_quantity: int
    value_at_risk: Decimal
    priority: float | None
    root_cause: RootCause
    reason: str | None
    expected_fulfillment_date: date | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    closed_at: datetime | None
    age_days: int
    customer: CustomerRef
    product: ProductRef
    order_line: OrderLineRead
    po_line: PoLineRead | None
    history: list[StatusChangeRead]
    score: ScoreRead | None


class BackorderCreate(RequestBody):
    """A backorder opened by hand. Status, priority, amounts and approvals are the server's."""

    order_line_id: StrictInt = Field(gt=0, le=MAX_INT)
    quantity: StrictInt = Field(
        gt=0, le=MAX_INT, description="Units of the line's open quantity to backorder."
    )
    reason: str = Field(min_length=1, max_length=2000)
    root_cause: RootCause = RootCause.OTHER
    po_line_id: StrictInt | None = Field(default=None, gt=0, le=MAX_INT)
    expected_fulfillment_date: IsoDate | None = None


class BackorderTransition(RequestBody):
    """Move a backorder to ``to`` through the lifecycle (409 when not allowed)."""

    to: BackorderStatus
    reason: str = Field(min_length=1, max_length=2000)
