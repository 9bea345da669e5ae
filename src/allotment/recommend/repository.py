"""SQL for recommendations: what the candidates need beyond the allocation, and the table.

Keyword-only, typed; never commits (the caller does).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from allotment.domain.models import (
    Contract,
    Customer,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Recommendation,
    ScoreSnapshot,
    Supplier,
)
from allotment.scoring.repository import latest_snapshot_ids

#: Chunk size of ``IN (...)`` lists (SQLite's bound-parameter limit is far above it).
_CHUNK = 900


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


@dataclass(frozen=True)
class Snapshot:
    """The latest score snapshot's risks, exposures (USD) and model versions of a backorder."""

    p_sla_breach: float | None
    p_churn: float | None
    exposures: dict[str, float]
    model_versions: dict[str, Any]


def latest_snapshots(*, session: Session, backorder_ids: Sequence[int]) -> dict[int, Snapshot]:
    """The latest snapshot of each backorder that has one."""
    out: dict[int, Snapshot] = {}
    for chunk in _chunks(backorder_ids):
        latest = select(latest_snapshot_ids(chunk).c.id)
        rows = session.execute(
            select(
                ScoreSnapshot.backorder_id,
                ScoreSnapshot.p_sla_breach,
                ScoreSnapshot.p_churn,
                ScoreSnapshot.inputs,
                ScoreSnapshot.model_versions,
            ).where(ScoreSnapshot.id.in_(latest))
        )
        for bo_id, p_sla, p_churn, inputs, versions in rows:
            exposures = dict((inputs or {}).get("exposures") or {})
            out[bo_id] = Snapshot(p_sla, p_churn, exposures, dict(versions or {}))
    return out


@dataclass(frozen=True)
class CustomerTerms:
    """A customer's lifetime value (USD) and latest contract's penalty terms."""

    lifetime_value: float
    penalty_rate_per_day: float
    penalty_cap_rate: float


def customer_terms(*, session: Session, customer_ids: Sequence[int]) -> dict[int, CustomerTerms]:
    """Lifetime value and the latest contract version's penalty rates per customer."""
    latest = (
        select(Contract.customer_id, func.max(Contract.version).label("version"))
        .group_by(Contract.customer_id)
        .subquery()
    )
    out: dict[int, CustomerTerms] = {}
    for chunk in _chunks(customer_ids):
        rows = session.execute(
            select(
                Customer.id,
                Customer.lifetime_value,
                Contract.penalty_rate_per_day,
                Contract.penalty_cap_rate,
            )
            .outerjoin(latest, latest.c.customer_id == Customer.id)
            .outerjoin(
                Contract,
                (Contract.customer_id == Customer.id) & (Contract.version == latest.c.version),
            )
            .where(Customer.id.in_(chunk))
        )
        for cid, ltv, rate, cap in rows:
            out[cid] = CustomerTerms(float(ltv or 0), float(rate or 0.0), float(cap or 0.0))
    return out


@dataclass(frozen=True)
class ProductInfo:
    """A product's category, list cost (USD per unit) and usual supplier."""

    category: str
    unit_cost: float
    supplier_id: int | None


def products(*, session: Session, skus: Sequence[str]) -> dict[str, ProductInfo]:
    """Category, cost and supplier per SKU."""
    out: dict[str, ProductInfo] = {}
    for i in range(0, len(skus), _CHUNK):
        rows = session.execute(
            select(Product.sku, Product.category, Product.unit_cost, Product.supplier_id).where(
                Product.sku.in_(list(skus[i : i + _CHUNK]))
            )
        )
        for sku, category, cost, supplier_id in rows:
            out[sku] = ProductInfo(category, float(cost), supplier_id)
    return out


def po_lines(*, session: Session, ids: Sequence[int]) -> dict[int, tuple[int, float]]:
    """(supplier id, unit cost USD) per PO line id."""
    out: dict[int, tuple[int, float]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(PurchaseOrderLine.id, PurchaseOrder.supplier_id, PurchaseOrderLine.unit_cost)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .where(PurchaseOrderLine.id.in_(chunk))
        )
        for line_id, supplier_id, cost in rows:
            out[line_id] = (supplier_id, float(cost))
    return out


@dataclass(frozen=True)
class SupplierRecord:
    """A supplier of a category and its history (received PO lines)."""

    supplier_id: int
    code: str
    lead_time_days: int
    received: int
    late: int
    median_days_late: float | None
    cost_ratio: float  # mean PO unit cost / product list cost (1.0 without history)


def category_suppliers(*, session: Session, categories: Sequence[str]) -> dict[str, list[int]]:
    """Supplier ids per category: usual suppliers of its products and suppliers of its POs."""
    out: dict[str, set[int]] = defaultdict(set)
    cats = list(categories)
    if not cats:
        return {}
    for cat, sid in session.execute(
        select(Product.category, Product.supplier_id).where(
            Product.category.in_(cats), Product.supplier_id.is_not(None)
        )
    ):
        if sid is not None:
            out[cat].add(sid)
    for cat, sid in session.execute(
        select(Product.category, PurchaseOrder.supplier_id)
        .join(PurchaseOrderLine, PurchaseOrderLine.product_id == Product.id)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(Product.category.in_(cats))
        .distinct()
    ):
        out[cat].add(sid)
    return {cat: sorted(ids) for cat, ids in out.items()}


def supplier_records(*, session: Session, supplier_ids: Sequence[int]) -> dict[int, SupplierRecord]:
    """Each supplier's lead time, late share and median lateness over its received lines."""
    if not supplier_ids:
        return {}
    days: dict[int, list[float]] = defaultdict(list)
    received: dict[int, int] = defaultdict(int)
    ratios: dict[int, list[float]] = defaultdict(list)
    for chunk in _chunks(list(supplier_ids)):
        rows = session.execute(
            select(
                PurchaseOrder.supplier_id,
                PurchaseOrderLine.promised_date,
                PurchaseOrderLine.received_on,
                PurchaseOrderLine.unit_cost,
                Product.unit_cost,
            )
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .join(Product, Product.id == PurchaseOrderLine.product_id)
            .where(PurchaseOrder.supplier_id.in_(chunk))
        )
        for sid, promised, received_on, po_cost, list_cost in rows:
            if list_cost and list_cost > 0:
                ratios[sid].append(float(po_cost / list_cost))
            if received_on is None:
                continue
            received[sid] += 1
            late = (received_on - promised).days
            if late > 0:
                days[sid].append(float(late))
    out: dict[int, SupplierRecord] = {}
    for sid, code, lead in session.execute(
        select(Supplier.id, Supplier.code, Supplier.lead_time_days).where(
            Supplier.id.in_(list(supplier_ids))
        )
    ):
        out[sid] = SupplierRecord(
            supplier_id=sid,
            code=code,
            lead_time_days=lead,
            received=received[sid],
            late=len(days[sid]),
            median_days_late=statistics.median(days[sid]) if days[sid] else None,
            cost_ratio=statistics.fmean(ratios[sid]) if ratios[sid] else 1.0,
        )
    return out


def product_ids(*, session: Session, skus: Sequence[str]) -> dict[str, int]:
    """Product id per SKU."""
    out: dict[str, int] = {}
    for i in range(0, len(skus), _CHUNK):
        for pid, sku in session.execute(
            select(Product.id, Product.sku).where(Product.sku.in_(list(skus[i : i + _CHUNK])))
        ):
            out[sku] = pid
    return out


def live_in_window(
    *,
    session: Session,
    customer_ids: Sequence[int],
    since: datetime,
    statuses: Sequence[str],
    exclude_proposed_of: Sequence[int] = (),
) -> list[tuple[int, str, datetime, Decimal]]:
    """(customer id, SKU, created at, own amount) of live recommendations since ``since``.

    Only recommendations that commit money count. Of a backorder's ``proposed`` alternatives
    only the first-ranked counts: they are exclusive options and that one is expected to be
    submitted. ``proposed`` recommendations of ``exclude_proposed_of`` are left out: generating
    again supersedes them.
    """
    out: list[tuple[int, str, datetime, Decimal]] = []
    skip = set(exclude_proposed_of)
    for chunk in _chunks(list(customer_ids)):
        rows = session.execute(
            select(
                Recommendation.customer_id,
                Product.sku,
                Recommendation.created_at,
                Recommendation.amount,
                Recommendation.backorder_id,
                Recommendation.status,
                Recommendation.committed,
                Recommendation.rank,
            )
            .join(Product, Product.id == Recommendation.product_id)
            .where(
                Recommendation.customer_id.in_(chunk),
                Recommendation.created_at >= since,
                Recommendation.status.in_(list(statuses)),
            )
        )
        for cid, sku, created, amount, bo_id, status, committed, rank in rows:
            if committed <= 0:
                continue  # a decision that commits no money is not a part of a split
            if status != "proposed" or (rank == 1 and bo_id not in skip):
                out.append((cid, sku, created, amount))
    return out


def supersede_proposed(*, session: Session, backorder_ids: Sequence[int]) -> int:
    """Mark the ``proposed`` recommendations of these backorders ``superseded``."""
    n = 0
    for chunk in _chunks(list(backorder_ids)):
        result = session.execute(
            update(Recommendation)
            .where(Recommendation.backorder_id.in_(chunk), Recommendation.status == "proposed")
            .values(status="superseded")
            .execution_options(synchronize_session=False)
        )
        n += int(getattr(result, "rowcount", 0) or 0)
    return n


def add_all(*, session: Session, rows: Sequence[Recommendation]) -> None:
    """Insert recommendations (flushed, so their ids are known)."""
    session.add_all(list(rows))
    session.flush()


def for_backorder(*, session: Session, backorder_id: int) -> list[Recommendation]:
    """A backorder's recommendations, newest generation first, then by rank."""
    return list(
        session.scalars(
            select(Recommendation)
            .where(Recommendation.backorder_id == backorder_id)
            .order_by(Recommendation.id.desc())
        )
    )
