"""The outreach list: which customers customer service should call first, why, and what to say.

Customers are ranked by the **expected relationship value at risk** from their open backorders,
in USD, from each backorder's latest score (``score_snapshots``)::

    expected value at risk = P(churn) × relationship value at risk
                           + Σ_backorders P(SLA breach) × penalty exposure

where the relationship value at risk is the customer's lifetime value × the policy's
``relationship_value_share`` and the penalty exposure is the blend's (value at risk ×
min(penalty rate × exposure days, penalty cap)). Both exposures are read from the snapshot
(what the blend multiplied), so the list agrees with the priorities people see. Unlike the
priority, no tier multiplier or weight is applied: this is the money expected to be lost.

A customer is listed when P(churn) ≥ ``outreach.min_churn_risk`` or one of their backorders has
P(SLA breach) ≥ ``outreach.min_sla_breach_risk``, and the expected value at risk is at least
``outreach.min_value_at_risk``; at most ``outreach.max_customers`` are listed (active policy).
A backorder that was never scored contributes nothing and is counted as unscored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import (
    Backorder,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    Product,
    PurchaseOrderLine,
    ScoreSnapshot,
)
from allotment.policy.schema import Policy
from allotment.scoring.repository import latest_snapshot_ids


@dataclass(frozen=True)
class OrderFact:
    """One open backorder of the customer, as an agent would say it."""

    backorder: str
    order: str
    sku: str
    product: str
    open_quantity: int
    value: float  # USD
    promised: date
    days_waiting: int
    eta_p50: date | None
    eta_p90: date | None
    eta_source: str  # "model" (P50/P90), "supplier" (PO line's current ETA) or "unknown"
    p_sla_breach: float | None


@dataclass(frozen=True)
class OutreachEntry:
    """A customer to contact, with the reasons and the facts for the call."""

    rank: int
    customer_id: int
    customer: str
    tier: str
    account_manager: str | None
    p_churn: float | None
    expected_value_at_risk: float  # USD
    churn_value_at_risk: float  # USD: P(churn) × relationship value at risk
    sla_value_at_risk: float  # USD: Σ P(SLA breach) × penalty exposure
    open_value: float  # USD
    reasons: tuple[str, ...]
    options: tuple[str, ...]
    orders: tuple[OrderFact, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for order in out["orders"]:
            for key in ("promised", "eta_p50", "eta_p90"):
                order[key] = order[key].isoformat() if order[key] else None
        return out


@dataclass(frozen=True)
class OutreachList:
    """The ranked list and what it was computed from."""

    policy: str
    customers_considered: int
    unscored_backorders: int
    entries: list[OutreachEntry]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "customers_considered": self.customers_considered,
            "unscored_backorders": self.unscored_backorders,
            "customers": [e.to_dict() for e in self.entries],
        }


def _rows(session: Session) -> list[Any]:
    """Every active backorder with its customer, order, product, supply and latest score."""
    latest = latest_snapshot_ids()
    stmt = (
        select(
            Backorder.number.label("backorder"),
            Backorder.open_quantity,
            Backorder.created_at,
            Customer.id.label("customer_id"),
            Customer.name.label("customer"),
            Customer.tier,
            Customer.account_manager,
            CustomerOrder.number.label("order"),
            CustomerOrder.promised_date,
            CustomerOrderLine.unit_price,
            Product.sku,
            Product.name.label("product"),
            PurchaseOrderLine.current_eta,
            ScoreSnapshot.id.label("snapshot_id"),
            ScoreSnapshot.p_churn,
            ScoreSnapshot.p_sla_breach,
            ScoreSnapshot.inputs,
        )
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .join(Product, Product.id == CustomerOrderLine.product_id)
        .outerjoin(PurchaseOrderLine, PurchaseOrderLine.id == Backorder.po_line_id)
        .outerjoin(latest, latest.c.backorder_id == Backorder.id)
        .outerjoin(ScoreSnapshot, ScoreSnapshot.id == latest.c.id)
        .where(Backorder.status.in_(ACTIVE_STATUSES))
        .order_by(Customer.id, Backorder.id)
    )
    return list(session.execute(stmt).all())


def _contract_terms(session: Session, customer_ids: list[int]) -> dict[int, Contract]:
    """Each customer's newest contract version (its current terms: partial ship, substitution)."""
    newest = (
        select(Contract.customer_id, func.max(Contract.version).label("version"))
        .where(Contract.customer_id.in_(customer_ids))
        .group_by(Contract.customer_id)
        .subquery()
    )
    rows = session.scalars(
        select(Contract).join(
            newest,
            (newest.c.customer_id == Contract.customer_id) & (newest.c.version == Contract.version),
        )
    ).all()
    return {c.customer_id: c for c in rows}


def _eta(row: Any) -> tuple[date | None, date | None, str]:
    eta = (row.inputs or {}).get("eta") if row.snapshot_id is not None else None
    if eta:
        return date.fromisoformat(eta["p50"]), date.fromisoformat(eta["p90"]), "model"
    if row.current_eta is not None:
        return row.current_eta, row.current_eta, "supplier"
    return None, None, "unknown"


def _exposure(row: Any, component: str) -> float:
    exposures = (row.inputs or {}).get("exposures") or {}
    return float(exposures.get(component) or 0.0)


def _options(contract: Contract | None, p_churn: float | None, policy: Policy) -> tuple[str, ...]:
    out = ["confirm the new date (ETA P50, worst case P90)"]
    if contract is None or contract.allows_partial_ship:
        out.append("ship what is available now, the rest when it arrives")
    else:
        out.append("hold for a complete shipment (the contract refuses partial shipments)")
    if contract is not None and contract.allows_substitution:
        out.append("offer a substitute (the contract consents to substitution)")
    else:
        out.append("ask whether a substitute is acceptable (needs the customer's consent)")
    if p_churn is not None and p_churn >= policy.outreach.min_churn_risk:
        out.append("offer a goodwill credit or discount for the delay (needs approval)")
    return tuple(out)


def outreach_list(
    session: Session, *, policy: Policy, policy_label: str, today: date
) -> OutreachList:
    """Rank customers with open backorders by expected relationship value at risk (USD).

    Parameters
    ----------
    session
        A read-only unit of work.
    policy
        The active policy (its ``outreach`` thresholds and ``blend.relationship_value_share``).
    policy_label
        How to name the policy in the output (e.g. ``"default v1"``).
    today
        The day "days waiting" is counted to.
    """
    rows = _rows(session)
    by_customer: dict[int, list[Any]] = {}
    for row in rows:
        by_customer.setdefault(int(row.customer_id), []).append(row)
    contracts = _contract_terms(session, list(by_customer))
    limits = policy.outreach
    unscored = sum(1 for r in rows if r.snapshot_id is None)
    candidates: list[OutreachEntry] = []
    for customer_id, lines in by_customer.items():
        scored = [r for r in lines if r.snapshot_id is not None]
        if not scored:
            continue
        first = lines[0]
        churn_risks = [r.p_churn for r in scored if r.p_churn is not None]
        p_churn = max(churn_risks) if churn_risks else None
        # Relationship exposures of one customer's backorders add up to LTV × share.
        churn_usd = (p_churn or 0.0) * sum(_exposure(r, "churn") for r in scored)
        sla_usd = sum((r.p_sla_breach or 0.0) * _exposure(r, "sla") for r in scored)
        expected = churn_usd + sla_usd
        worst_sla = max((r.p_sla_breach or 0.0) for r in scored)
        qualifies = (p_churn or 0.0) >= limits.min_churn_risk or worst_sla >= (
            limits.min_sla_breach_risk
        )
        if not qualifies or Decimal(str(round(expected, 2))) < limits.min_value_at_risk:
            continue
        facts = []
        for r in lines:
            p50, p90, source = _eta(r)
            facts.append(
                OrderFact(
                    backorder=r.backorder,
                    order=r.order,
                    sku=r.sku,
                    product=r.product,
                    open_quantity=int(r.open_quantity),
                    value=float(r.unit_price) * int(r.open_quantity),
                    promised=r.promised_date,
                    days_waiting=max((today - r.created_at.date()).days, 0),
                    eta_p50=p50,
                    eta_p90=p90,
                    eta_source=source,
                    p_sla_breach=r.p_sla_breach,
                )
            )
        reasons = []
        if p_churn is not None and p_churn >= limits.min_churn_risk:
            reasons.append(
                f"churn risk {p_churn:.0%} puts ${churn_usd:,.0f} of the relationship at risk"
            )
        breaching = [r for r in scored if (r.p_sla_breach or 0.0) >= limits.min_sla_breach_risk]
        if breaching:
            reasons.append(
                f"{len(breaching)} of {len(lines)} open backorder(s) likely to miss the promised"
                f" date (up to {worst_sla:.0%}); expected penalties ${sla_usd:,.0f}"
            )
        longest = max(f.days_waiting for f in facts)
        if longest >= 7:
            reasons.append(f"waiting up to {longest} days")
        if str(first.tier) == "vip":
            reasons.append("VIP customer: the account manager joins the call")
        candidates.append(
            OutreachEntry(
                rank=0,
                customer_id=customer_id,
                customer=first.customer,
                tier=str(first.tier),
                account_manager=first.account_manager,
                p_churn=p_churn,
                expected_value_at_risk=expected,
                churn_value_at_risk=churn_usd,
                sla_value_at_risk=sla_usd,
                open_value=sum(f.value for f in facts),
                reasons=tuple(reasons),
                options=_options(contracts.get(customer_id), p_churn, policy),
                orders=tuple(facts),
            )
        )
    candidates.sort(key=lambda e: (-e.expected_value_at_risk, e.customer_id))
    entries = [
        OutreachEntry(**{**vars(e), "rank": i})
        for i, e in enumerate(candidates[: limits.max_customers], start=1)
    ]
    return OutreachList(
        policy=policy_label,
        customers_considered=len(by_customer),
        unscored_backorders=unscored,
        entries=entries,
    )
