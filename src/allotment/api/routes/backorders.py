"""Backorders: the queue (filters, sort, cursor pages), detail, manual creation, transitions."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import WithJsonSchema
from sqlalchemy import Row

from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.pagination import CursorInvalidError, check_limit, decode_cursor, encode_cursor
from allotment.api.repositories import backorders as repo
from allotment.api.repositories.backorders import (
    AgeBucket,
    BackorderFilters,
    QueueRow,
    SortKey,
    SortOrder,
)
from allotment.api.routes.paging import page_of
from allotment.api.schemas.backorders import (
    BackorderCreate,
    BackorderDetail,
    BackorderListItem,
    BackorderTransition,
    CustomerRef,
    OrderLineRead,
    PolicyRef,
    PoLineRead,
    ProductRef,
    ScoreRead,
    StatusChangeRead,
)
from allotment.api.schemas.common import MAX_INT, MAX_USD, NO_NUL, Limit, Page
from allotment.audit import service as audit
from allotment.db.types import utcnow
from allotment.domain import backorders as svc
from allotment.domain import repository as domain_repo
from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import Backorder
from allotment.errors import NotFoundError

router = APIRouter(prefix="/backorders", tags=["backorders"])

Reader = Annotated[Principal, Depends(require("backorders:read"))]
Creator = Annotated[Principal, Depends(require("backorders:create"))]
Mover = Annotated[Principal, Depends(require("backorders:transition"))]
IdParam = Annotated[int, Path(ge=1, le=MAX_INT)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_INT)]
Score = Annotated[float | None, Query(allow_inf_nan=False)]
Usd = Annotated[
    Decimal | None,
    # Declared as a number: the decimal's default schema also admits any string.
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": float(MAX_USD)}),
    Query(ge=0, le=MAX_USD, allow_inf_nan=False, description="Revenue at risk, USD."),
]


def _audit_state(b: Backorder) -> dict[str, Any]:
    return {
        "number": b.number,
        "status": b.status.value,
        "quantity": b.quantity,
        "open_quantity": b.open_quantity,
        "value_at_risk": b.value_at_risk,
    }


def _age_days(created_at: datetime, now: datetime) -> int:
    return max((now - created_at).days, 0)


def _customer(row: QueueRow) -> CustomerRef:
    c = row.customer
    return CustomerRef(
        id=c.id, code=c.code, name=c.name, tier=c.tier, account_manager=c.account_manager
    )


def _product(row: QueueRow) -> ProductRef:
    p = row.product
    return ProductRef(id=p.id, sku=p.sku, name=p.name, category=p.category)


def _item(r: Row[*tuple[Any, ...]], now: datetime) -> dict[str, Any]:
    """One list row as plain data (the page validates it into a :class:`BackorderListItem`)."""
    return {
        "id": r.id,
        "number": r.number,
        "status": r.status,
        "customer": {
            "id": r.customer_id,
            "code": r.customer_code,
            "name": r.customer_name,
            "tier": r.tier,
            "account_manager": r.account_manager,
        },
        "product": {
            "id": r.product_id,
            "sku": r.sku,
            "name": r.product_name,
            "category": r.category,
        },
        "location_id": r.location_id,
        "order_line_id": r.order_line_id,
        "po_line_id": r.po_line_id,
        "supplier_id": r.supplier_id,
        "quantity": r.quantity,
        "open_quantity": r.open_quantity,
        "value_at_risk": r.value_at_risk,
        "priority": r.priority,
        "p_churn": r.p_churn,
        "p_sla_breach": r.p_sla_breach,
        "root_cause": r.root_cause,
        "expected_fulfillment_date": r.expected_fulfillment_date,
        "created_at": r.created_at,
        "age_days": _age_days(r.created_at, now),
    }


def after_cursor(cursor: str | None, sort: SortKey, order: SortOrder) -> tuple[Any, int] | None:
    """The (sort value, id) a cursor of this list points after (422 for a foreign cursor)."""
    if cursor is None:
        return None
    payload = decode_cursor(cursor)
    if payload.get("s") != sort.value or payload.get("o") != order.value:
        raise CursorInvalidError(
            "the cursor belongs to another sort order: start again without it", field="cursor"
        )
    raw, last_id = payload.get("v"), payload.get("id")
    try:
        if not isinstance(last_id, int) or not 0 < last_id <= MAX_INT:
            raise ValueError
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ValueError
        value: Any
        if sort is SortKey.PRIORITY:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
        elif sort is SortKey.VALUE:
            value = Decimal(str(raw))
            if not value.is_finite() or abs(value) > MAX_USD:
                raise ValueError
        else:
            value = datetime.fromisoformat(str(raw))
            if value.tzinfo is None:
                raise ValueError
    except (ValueError, InvalidOperation):
        raise CursorInvalidError("the cursor is not one this list issued", field="cursor") from None
    return value, last_id


@router.get(
    "",
    response_model=Page[BackorderListItem],
    responses=responses(401, 403, 422),
    summary="The backorder queue",
)
def list_backorders(
    session: SessionDep,
    settings: SettingsDep,
    _user: Reader,
    status_: Annotated[
        list[BackorderStatus] | None,
        Query(alias="status", description="Repeatable; default: the active statuses."),
    ] = None,
    tier: Annotated[list[Tier] | None, Query()] = None,
    priority_min: Score = None,
    priority_max: Score = None,
    age: Annotated[AgeBucket | None, Query(description="Days since creation.")] = None,
    supplier_id: IdFilter = None,
    product_id: IdFilter = None,
    category: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    location_id: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="The order's warehouse.")
    ] = None,
    value_min: Usd = None,
    value_max: Usd = None,
    churn_risk_min: Annotated[float | None, Query(ge=0, le=1)] = None,
    sla_breach_risk_min: Annotated[float | None, Query(ge=0, le=1)] = None,
    fillable_elsewhere: Annotated[
        bool | None,
        Query(description="Another location has on hand - committed >= the open quantity."),
    ] = None,
    sort: SortKey = SortKey.PRIORITY,
    order: SortOrder = SortOrder.DESC,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[BackorderListItem]:
    """Filter, sort and page through backorders (keyset cursor; pass ``next_cursor`` back)."""
    check_limit(limit, max_page_size=settings.max_page_size)
    filters = BackorderFilters(
        # The queue is what still needs work; resolved and cancelled ones only on request.
        statuses=status_ or list(ACTIVE_STATUSES),
        tiers=tier,
        priority_min=priority_min,
        priority_max=priority_max,
        age_bucket=age,
        supplier_id=supplier_id,
        product_id=product_id,
        category=category,
        location_id=location_id,
        value_min=value_min,
        value_max=value_max,
        churn_risk_min=churn_risk_min,
        sla_breach_risk_min=sla_breach_risk_min,
        fillable_elsewhere=fillable_elsewhere,
    )
    now = utcnow()
    # One row more than asked tells whether another page exists.
    ids = repo.list_ids(
        session=session,
        filters=filters,
        sort=sort,
        order=order,
        limit=limit + 1,
        after=after_cursor(cursor, sort, order),
        now=now,
    )
    return page_of(
        Page[BackorderListItem],
        repo.list_items(session=session, ids=ids),
        limit=limit,
        item=lambda r: _item(r, now),
        cursor=lambda last: encode_cursor(
            {"s": sort.value, "o": order.value, "v": repo.sort_value(sort, last), "id": last.id}
        ),
    )


def _detail(session: SessionDep, backorder_id: int) -> BackorderDetail:
    found = repo.detail(session=session, backorder_id=backorder_id)
    if found is None:
        raise NotFoundError(f"backorder {backorder_id} does not exist", field="backorder_id")
    row, now = found.row, utcnow()
    b, line, order = row.backorder, row.line, row.order
    snap = found.snapshot
    score = None
    if snap is not None:
        policy = found.policy
        score = ScoreRead(
            run_id=snap.run_id,
            scored_at=snap.scored_at,
            priority=snap.priority,
            components=dict(snap.components),
            p_supplier_delay=snap.p_supplier_delay,
            p_sla_breach=snap.p_sla_breach,
            p_churn=snap.p_churn,
            degraded=snap.degraded,
            flags=list(snap.flags),
            model_versions=dict(snap.model_versions),
            policy=PolicyRef(id=policy.id, name=policy.name, version=policy.version)
            if policy
            else None,
        )
    po = found.po_line
    return BackorderDetail(
        id=b.id,
        number=b.number,
        status=b.status,
        allocation_status=b.allocation_status,
        quantity=b.quantity,
        open_quantity=b.open_quantity,
        value_at_risk=b.value_at_risk,
        priority=b.priority,
        root_cause=b.root_cause,
        reason=b.reason,
        expected_fulfillment_date=b.expected_fulfillment_date,
        created_at=b.created_at,
        created_by=b.created_by,
        updated_at=b.updated_at,
        closed_at=b.closed_at,
        age_days=_age_days(b.created_at, now),
        customer=_customer(row),
        product=_product(row),
        order_line=OrderLineRead(
            id=line.id,
            order_id=order.id,
            order_number=order.number,
            line_no=line.line_no,
            quantity=line.quantity,
            shipped_quantity=line.shipped_quantity,
            unit_price=line.unit_price,
            requested_date=order.requested_date,
            promised_date=order.promised_date,
            is_emergency=order.is_emergency,
            location_id=order.location_id,
        ),
        po_line=PoLineRead(
            id=po.id,
            purchase_order_number=found.po_number or "",
            supplier_id=row.supplier_id or 0,
            line_no=po.line_no,
            quantity=po.quantity,
            received_quantity=po.received_quantity,
            promised_date=po.promised_date,
            current_eta=po.current_eta,
        )
        if po is not None
        else None,
        history=[
            StatusChangeRead(
                from_status=h.from_status,
                to_status=h.to_status,
                changed_at=h.changed_at,
                changed_by=h.changed_by,
                reason=h.reason,
            )
            for h in b.history
        ],
        score=score,
    )


@router.get(
    "/{backorder_id}",
    response_model=BackorderDetail,
    responses=responses(401, 403, 404, 422),
    summary="One backorder with its customer, lines, history and latest score",
)
def get_backorder(backorder_id: IdParam, session: SessionDep, _user: Reader) -> BackorderDetail:
    """The backorder, its customer, order line, PO line, status history and latest score."""
    return _detail(session, backorder_id)


@router.post(
    "",
    response_model=BackorderDetail,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 404, 413, 422),
    summary="Open a backorder by hand",
)
def create_backorder(body: BackorderCreate, session: SessionDep, user: Creator) -> BackorderDetail:
    """Create a backorder for part of an order line's open quantity."""
    created = svc.create_manual(
        session,
        order_line_id=body.order_line_id,
        quantity=body.quantity,
        actor=user.name,
        reason=body.reason,
        root_cause=body.root_cause,
        po_line_id=body.po_line_id,
        expected_fulfillment_date=body.expected_fulfillment_date,
    )
    audit.append(
        session,
        actor=user.name,
        role=user.role.value,
        action="backorder.created",
        entity_type="backorder",
        entity_id=created.id,
        before=None,
        after=_audit_state(created),
        reason=body.reason,
    )
    return _detail(session, created.id)


@router.post(
    "/{backorder_id}/transition",
    response_model=BackorderDetail,
    responses=responses(401, 403, 404, 409, 413, 422),
    summary="Move a backorder through its lifecycle",
)
def transition_backorder(
    backorder_id: IdParam, body: BackorderTransition, session: SessionDep, user: Mover
) -> BackorderDetail:
    """Change the status if the state machine allows it (409 otherwise)."""
    backorder = domain_repo.get_backorder(
        session=session, backorder_id=backorder_id, for_update=True
    )
    before = _audit_state(backorder)
    svc.transition(session, backorder=backorder, to=body.to, actor=user.name, reason=body.reason)
    audit.append(
        session,
        actor=user.name,
        role=user.role.value,
        action="backorder.transitioned",
        entity_type="backorder",
        entity_id=backorder.id,
        before=before,
        after=_audit_state(backorder),
        reason=body.reason,
    )
    return _detail(session, backorder_id)
