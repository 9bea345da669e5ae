"""The backorder queue: the API's filters as a form, sorted, one cursor page at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from allotment.api.deps import SessionDep, SettingsDep
from allotment.api.pagination import encode_cursor
from allotment.api.repositories import backorders as repo
from allotment.api.repositories.backorders import AgeBucket, BackorderFilters, SortKey, SortOrder
from allotment.api.routes.backorders import after_cursor
from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import ScoreSnapshot
from allotment.errors import AppError
from allotment.insights.sql import reference_day, shift, start_of
from allotment.scoring.explanation import LABELS
from allotment.web.deps import WebUser, page
from allotment.web.render import is_htmx, render

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("backorders:read"))]

PAGE_SIZES = (25, 50, 100)
PRESETS = (
    (
        "Premium or VIP customers at high churn risk, fillable from another location",
        {"tier": ["premium", "vip"], "churn_risk_min": "50", "fillable_elsewhere": "on"},
    ),
    ("Likely to miss the promised date (SLA risk ≥ 70%)", {"sla_breach_risk_min": "70"}),
    ("Waiting 15 days or more", {"age": "15+"}),
)


@dataclass
class QueueForm:
    """The filter form as typed (strings), what it means, and what was wrong with it."""

    raw: dict[str, Any]
    filters: BackorderFilters = field(default_factory=BackorderFilters)
    sort: SortKey = SortKey.PRIORITY
    order: SortOrder = SortOrder.DESC
    limit: int = 50
    problems: list[str] = field(default_factory=list)

    def query(self, **overrides: Any) -> str:
        """The form as a query string (with ``overrides``; None drops a key)."""
        params = {k: v for k, v in self.raw.items() if v not in (None, "", [])}
        params.update(overrides)
        return urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)


def _number(
    form: QueueForm, name: str, label: str, *, lo: float, hi: float, share: bool = False
) -> Any:
    raw = (form.raw.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw.replace(",", "").replace("$", "").replace("%", ""))
        if not value.is_finite() or not lo <= value <= hi:
            raise InvalidOperation
    except InvalidOperation:
        unit = "a percentage from 0 to 100" if share else f"a number from {lo:,.0f} to {hi:,.0f}"
        form.problems.append(f"{label}: {raw!r} is not {unit}")
        return None
    return float(value) / 100 if share else value


def parse_form(raw: dict[str, Any]) -> QueueForm:
    """Read the filter form; problems are collected in words, never raised."""
    form = QueueForm(raw=raw)
    statuses = [
        BackorderStatus(s) for s in raw["status"] if s in BackorderStatus._value2member_map_
    ]
    tiers = [Tier(t) for t in raw["tier"] if t in Tier._value2member_map_]
    age = raw.get("age") or ""
    priority_min = _number(form, "priority_min", "Priority at least", lo=0, hi=1e15)
    value_min = _number(form, "value_min", "Value at least", lo=0, hi=1e12)
    value_max = _number(form, "value_max", "Value at most", lo=0, hi=1e12)
    churn = _number(form, "churn_risk_min", "Churn risk at least", lo=0, hi=100, share=True)
    sla = _number(form, "sla_breach_risk_min", "SLA risk at least", lo=0, hi=100, share=True)
    category = (raw.get("category") or "").strip()[:64] or None
    location = _number(form, "location_id", "Warehouse id", lo=1, hi=2**31 - 1)
    supplier = _number(form, "supplier_id", "Supplier id", lo=1, hi=2**31 - 1)
    form.filters = BackorderFilters(
        statuses=statuses or list(ACTIVE_STATUSES),
        tiers=tiers or None,
        priority_min=None if priority_min is None else float(priority_min),
        age_bucket=AgeBucket(age) if age in AgeBucket._value2member_map_ else None,
        supplier_id=None if supplier is None else int(supplier),
        category=category,
        location_id=None if location is None else int(location),
        value_min=value_min,
        value_max=value_max,
        churn_risk_min=churn,
        sla_breach_risk_min=sla,
        fillable_elsewhere=True if raw.get("fillable_elsewhere") else None,
    )
    sort = raw.get("sort") or SortKey.PRIORITY.value
    form.sort = SortKey(sort) if sort in SortKey._value2member_map_ else SortKey.PRIORITY
    order = raw.get("order") or SortOrder.DESC.value
    form.order = SortOrder(order) if order in SortOrder._value2member_map_ else SortOrder.DESC
    try:
        form.limit = int(raw.get("limit") or 50)
    except ValueError:
        form.limit = 50
    if form.limit not in PAGE_SIZES:
        form.limit = 50
    return form


def top_reason(snap: ScoreSnapshot | None) -> str:
    """The component that contributes most to the priority, in words with its USD."""
    if snap is None:
        return "not scored yet"
    parts = {k: float(v) for k, v in (snap.components or {}).items()}
    if not parts or max(parts.values()) <= 0:
        return "no component above zero"
    name = max(parts, key=lambda k: parts[k])
    share = parts[name] / snap.priority if snap.priority else 0.0
    return f"{LABELS.get(name, name)}: ${parts[name]:,.0f} ({share:.0%} of the priority)"


@router.get("/queue")
def queue(request: Request, session: SessionDep, settings: SettingsDep, user: Reader) -> Response:
    """The queue with the filter form; an htmx request gets the results only."""
    q = request.query_params
    raw: dict[str, Any] = {k: q.get(k) for k in q if k not in ("status", "tier")}
    raw["status"], raw["tier"] = q.getlist("status"), q.getlist("tier")
    raw.pop("cursor", None)
    form = parse_form(raw)
    rows: list[dict[str, Any]] = []
    next_cursor = None
    cursor = q.get("cursor")
    error = None
    if not form.problems:
        try:
            rows, next_cursor = queue_page(session, form, cursor, max(settings.max_page_size, 1))
        except AppError as exc:  # a stale or foreign cursor: say so, offer the first page
            error = exc.message
    context = {
        "form": form,
        "rows": rows,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "error": error,
        "statuses": list(BackorderStatus),
        "active_statuses": {s.value for s in ACTIVE_STATUSES},
        "tiers": list(Tier),
        "ages": [a.value for a in AgeBucket],
        "sorts": [s.value for s in SortKey],
        "page_sizes": PAGE_SIZES,
        "presets": [(label, urlencode(p, doseq=True)) for label, p in PRESETS],
    }
    template = "_queue_results.html" if is_htmx(request) else "queue.html"
    return render(request, template, context, user=user)


def queue_page(
    session: Session, form: QueueForm, cursor: str | None, max_page: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the queue as the table shows it, and the cursor of the next page."""
    limit = min(form.limit, max_page)
    # Ages count whole days to the backlog's reference day, as the command center does (a
    # generated world lives on its own calendar).
    day = reference_day(session)
    now = start_of(shift(day, 1))  # the end of the reference day
    found = repo.list_queue(
        session=session,
        filters=form.filters,
        sort=form.sort,
        order=form.order,
        limit=limit + 1,
        after=after_cursor(cursor, form.sort, form.order),
        now=now,
    )
    rows, more = found[:limit], len(found) > limit
    snaps = repo.latest_snapshots(session=session, backorder_ids=[r.backorder.id for r in rows])
    out = []
    for r in rows:
        b = r.backorder
        snap = snaps.get(b.id)
        out.append(
            {
                "id": b.id,
                "number": b.number,
                "status": b.status,
                "customer": r.customer.name,
                "tier": r.customer.tier,
                "sku": r.product.sku,
                "product": r.product.name,
                "open_quantity": b.open_quantity,
                "value": b.value_at_risk,
                "priority": b.priority,
                "reason": top_reason(snap),
                "p_churn": snap.p_churn if snap else None,
                "p_sla": snap.p_sla_breach if snap else None,
                "p_delay": snap.p_supplier_delay if snap else None,
                "age_days": max((day - b.created_at.date()).days, 0),
                "degraded": bool(snap.degraded) if snap else False,
            }
        )
    next_cursor = None
    if more and rows:
        last = rows[-1].backorder
        next_cursor = encode_cursor(
            {
                "s": form.sort.value,
                "o": form.order.value,
                "v": repo.sort_value(form.sort, last),
                "id": last.id,
            }
        )
    return out, next_cursor
