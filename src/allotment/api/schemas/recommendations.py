"""Recommendation and approval bodies: list rows, detail with its chain, requests.

Status, money, routes and approvals are the server's: request bodies carry only what the caller
decides (a reason, a decision, conditions, a new unit count) and refuse any other field.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from allotment.api.schemas.common import MAX_INT, RequestBody
from allotment.domain.enums import BackorderStatus
from allotment.workflow.approvals import MAX_TEXT, Decision


class RecommendationStatus(StrEnum):
    PROPOSED = "proposed"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    SUPERSEDED = "superseded"


class RecommendationRead(BaseModel):
    """One recommendation. Money in USD (exact decimals, sent as strings)."""

    id: int
    backorder_id: int
    customer_id: int
    product_id: int
    kind: str
    status: RecommendationStatus
    rank: int
    units: int | None = Field(description="Units the action covers.")
    arrival: date | None = Field(description="When the action brings the units.")
    cost: Decimal
    benefit: Decimal = Field(description="Expected loss the action removes (USD).")
    net_value: Decimal
    committed: Decimal = Field(description="Money the action commits (USD).")
    amount: Decimal = Field(description="Approval amount: value at stake + money committed.")
    routed_amount: Decimal = Field(
        description="Amount the route was computed on (summed over the customer and SKU's window)."
    )
    needs_consent: bool
    explanation: str
    created_at: datetime
    created_by: str
    requested_by: str | None
    submitted_at: datetime | None
    awaiting_role: str | None = Field(description="The role whose step waits (pending only).")
    current_step: int | None = Field(description="0-based index of the waiting step.")
    decided_at: datetime | None
    executed_at: datetime | None
    executed_by: str | None


class RouteRead(BaseModel):
    chain: list[str]
    auto: bool
    band_role: str | None
    notify: list[str]
    reasons: list[str]
    policy_version_id: int | None
    routed_at: str | None


class DecisionRead(BaseModel):
    """One decision on one step (``voided``: a later change or a request for an alternative
    cancelled it; it no longer counts)."""

    id: int
    step_index: int
    role: str
    decided_by: str
    decision: str
    reason: str
    conditions: str | None
    decided_at: datetime
    voided: bool
    voided_at: datetime | None


class StepRead(BaseModel):
    index: int
    role: str
    state: str = Field(
        description="approved, rejected, alternative_requested, waiting (its turn) or pending."
    )
    decided_by: str | None
    decision: str | None


class RecommendationDetail(RecommendationRead):
    """A recommendation with its route, chain, every decision and its backorder's explanation."""

    route: RouteRead
    steps: list[StepRead]
    decisions: list[DecisionRead]
    conditions: list[str] = Field(description="Conditions of its live approvals.")
    details: dict[str, Any]
    model_versions: dict[str, Any]
    policy_version_id: int | None
    backorder_explanation: dict[str, Any] | None = Field(
        description="Why the backorder ranks where it does (computed when it was submitted)."
    )
    explanation_problem: str | None = Field(
        description="Why there is no explanation (e.g. the backorder is not scored)."
    )


class InboxItem(BaseModel):
    """A recommendation waiting for the caller's role that the caller may decide."""

    recommendation: RecommendationRead
    step_index: int
    role: str
    waiting_since: datetime | None


class SubmitRequest(RequestBody):
    """Submit a proposed recommendation for approval; the caller becomes its requester."""

    reason: str | None = Field(default=None, max_length=MAX_TEXT)


class DecisionRequest(RequestBody):
    """A decision on the step waiting for the caller's role."""

    decision: Decision
    reason: str = Field(min_length=1, max_length=MAX_TEXT)
    conditions: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="Required with approve_with_conditions, refused otherwise.",
    )


class RecommendationUpdate(RequestBody):
    """Change the units an action covers; the server recomputes its money and amount, and a
    submitted recommendation loses its approvals and is routed again."""

    units: int = Field(gt=0, le=MAX_INT)
    reason: str = Field(min_length=1, max_length=MAX_TEXT)


class ExecuteRequest(RequestBody):
    reason: str = Field(min_length=1, max_length=MAX_TEXT)


class ExecutionRead(BaseModel):
    """What executing the recommendation did to its backorder."""

    recommendation: RecommendationRead
    backorder_id: int
    backorder_status_before: BackorderStatus
    backorder_status_after: BackorderStatus
    effect: str
    conditions: list[str]
