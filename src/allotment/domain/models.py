"""The domain schema (SQLAlchemy 2 declarative). One schema for SQLite and PostgreSQL.

Money columns are :class:`~allotment.db.types.Money` (exact cents); timestamps are UTC.
Ratios (fill-rate commitments, penalty rates) are plain floats: they are not money.
Tables prefixed ``sim_`` belong to the synthetic world (the generator's ground truth) and are
never read by features or models.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from allotment.db.types import Money, UTCDateTime, utcnow
from allotment.domain.enums import (
    AllocationStatus,
    BackorderStatus,
    ContactOutcome,
    CustomerStatus,
    OrderStatus,
    PolicyStatus,
    PurchaseOrderStatus,
    RootCause,
    ShipMode,
    Tier,
    TruthKind,
)
from allotment.users.roles import Role

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def enum_column(enum_cls: type[StrEnum], name: str) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint, storing the enum's values."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


# --- parties and places ---------------------------------------------------------------------


class Supplier(Base):
    __tablename__ = "suppliers"
    __table_args__ = (CheckConstraint("lead_time_days >= 0", name="lead_time_nonneg"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(64))
    default_ship_mode: Mapped[ShipMode] = mapped_column(enum_column(ShipMode, "ship_mode"))
    lead_time_days: Mapped[int] = mapped_column(Integer)


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(64))


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[Tier] = mapped_column(enum_column(Tier, "tier"))
    account_manager: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(64))
    lifetime_value: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    created_on: Mapped[date] = mapped_column(Date)
    status: Mapped[CustomerStatus] = mapped_column(
        enum_column(CustomerStatus, "customer_status"), default=CustomerStatus.ACTIVE
    )
    churned_on: Mapped[date | None] = mapped_column(Date)

    contracts: Mapped[list[Contract]] = relationship(
        back_populates="customer", order_by="Contract.version"
    )


class Contract(Base):
    """A versioned agreement: a change creates a new version; the old one gets ``effective_to``."""

    __tablename__ = "contracts"
    __table_args__ = (
        UniqueConstraint("customer_id", "version", name="uq_contracts_customer_version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("sla_days >= 0", name="sla_days_nonneg"),
        CheckConstraint(
            "fill_rate_commitment >= 0 AND fill_rate_commitment <= 1", name="fill_rate_ratio"
        ),
        CheckConstraint("penalty_rate_per_day >= 0", name="penalty_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sla_days: Mapped[int] = mapped_column(Integer)
    # Share of ordered quantity the customer is promised to receive on time (0..1).
    fill_rate_commitment: Mapped[float] = mapped_column(Float)
    # Penalty as a share of the late line's value per day late (e.g. 0.005 = 0.5 %/day).
    penalty_rate_per_day: Mapped[float] = mapped_column(Float, default=0.0)
    # Cap of the penalty as a share of the line's value.
    penalty_cap_rate: Mapped[float] = mapped_column(Float, default=0.0)
    allows_partial_ship: Mapped[bool] = mapped_column(Boolean, default=True)
    allows_substitution: Mapped[bool] = mapped_column(Boolean, default=False)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    renewal_date: Mapped[date] = mapped_column(Date)

    customer: Mapped[Customer] = relationship(back_populates="contracts")


# --- products and stock ---------------------------------------------------------------------


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("unit_price >= 0", name="price_nonneg"),
        CheckConstraint("unit_cost >= 0", name="cost_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64), index=True)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    unit_cost: Mapped[Decimal] = mapped_column(Money)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ProductSubstitute(Base):
    """``substitute_id`` may replace ``product_id`` (one direction; add both rows for two)."""

    __tablename__ = "product_substitutes"
    __table_args__ = (CheckConstraint("product_id <> substitute_id", name="not_self"),)

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    substitute_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    # Price difference of the substitute relative to the product (0.05 = +5 %).
    price_premium_rate: Mapped[float] = mapped_column(Float, default=0.0)


class InventoryPosition(Base):
    __tablename__ = "inventory_positions"
    __table_args__ = (
        UniqueConstraint("product_id", "location_id", name="uq_inventory_product_location"),
        CheckConstraint("on_hand >= 0", name="on_hand_nonneg"),
        CheckConstraint("committed >= 0", name="committed_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    committed: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- supply ---------------------------------------------------------------------------------


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    ordered_on: Mapped[date] = mapped_column(Date, index=True)
    ship_mode: Mapped[ShipMode] = mapped_column(enum_column(ShipMode, "ship_mode"))
    status: Mapped[PurchaseOrderStatus] = mapped_column(
        enum_column(PurchaseOrderStatus, "purchase_order_status"),
        default=PurchaseOrderStatus.OPEN,
    )

    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="purchase_order", order_by="PurchaseOrderLine.line_no"
    )


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "line_no", name="uq_po_lines_po_line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "received_quantity >= 0 AND received_quantity <= quantity", name="received_bounds"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_cost: Mapped[Decimal] = mapped_column(Money)
    promised_date: Mapped[date] = mapped_column(Date)
    current_eta: Mapped[date | None] = mapped_column(Date)
    received_quantity: Mapped[int] = mapped_column(Integer, default=0)
    # Indexed: supplier on-time rates read the lines received in a window of days.
    received_on: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[PurchaseOrderStatus] = mapped_column(
        enum_column(PurchaseOrderStatus, "purchase_order_status"),
        default=PurchaseOrderStatus.OPEN,
    )

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    eta_history: Mapped[list[EtaChange]] = relationship(
        back_populates="po_line", order_by="EtaChange.recorded_at"
    )


class EtaChange(Base):
    """Every ETA a PO line was given, in the order it was learned."""

    __tablename__ = "po_line_eta_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    po_line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_lines.id"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    previous_eta: Mapped[date | None] = mapped_column(Date)
    new_eta: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))

    po_line: Mapped[PurchaseOrderLine] = relationship(back_populates="eta_history")


class Receipt(Base):
    """Goods received against a PO line (several receipts make a partial delivery)."""

    __tablename__ = "po_receipts"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    po_line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_lines.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date, index=True)
    quantity: Mapped[int] = mapped_column(Integer)


# --- demand ---------------------------------------------------------------------------------


class CustomerOrder(Base):
    __tablename__ = "customer_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    ordered_on: Mapped[date] = mapped_column(Date, index=True)
    requested_date: Mapped[date] = mapped_column(Date)
    promised_date: Mapped[date] = mapped_column(Date)
    is_emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[OrderStatus] = mapped_column(
        enum_column(OrderStatus, "order_status"), default=OrderStatus.OPEN
    )

    lines: Mapped[list[CustomerOrderLine]] = relationship(
        back_populates="order", order_by="CustomerOrderLine.line_no"
    )


class CustomerOrderLine(Base):
    __tablename__ = "customer_order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no", name="uq_order_lines_order_line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "shipped_quantity >= 0 AND shipped_quantity <= quantity", name="shipped_bounds"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_orders.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0)
    # The PO line whose quantity this line is allocated to (waits on), if any.
    po_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_order_lines.id"), index=True
    )
    status: Mapped[OrderStatus] = mapped_column(
        enum_column(OrderStatus, "order_status"), default=OrderStatus.OPEN
    )
    shipped_on: Mapped[date | None] = mapped_column(Date)

    order: Mapped[CustomerOrder] = relationship(back_populates="lines")

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.shipped_quantity


class Shipment(Base):
    """Quantity shipped to the customer for an order line (several make a partial delivery)."""

    __tablename__ = "order_line_shipments"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("customer_order_lines.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    shipped_on: Mapped[date] = mapped_column(Date, index=True)
    quantity: Mapped[int] = mapped_column(Integer)


# --- backorders -----------------------------------------------------------------------------

ACTIVE_BACKORDER_STATUSES = (
    BackorderStatus.OPEN,
    BackorderStatus.ETA_UPDATED,
    BackorderStatus.PARTIALLY_RESOLVED,
    BackorderStatus.ESCALATED,
)
_ACTIVE_SQL = "status IN ('open', 'eta_updated', 'partially_resolved', 'escalated')"


class Backorder(Base):
    """An order line's open quantity waiting for supply. At most one active per order line."""

    __tablename__ = "backorders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("open_quantity >= 0 AND open_quantity <= quantity", name="open_bounds"),
        Index(
            "uq_backorders_active_order_line",
            "order_line_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("customer_order_lines.id"), index=True)
    po_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_order_lines.id"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    open_quantity: Mapped[int] = mapped_column(Integer)
    root_cause: Mapped[RootCause] = mapped_column(enum_column(RootCause, "root_cause"))
    status: Mapped[BackorderStatus] = mapped_column(
        enum_column(BackorderStatus, "backorder_status"),
        default=BackorderStatus.OPEN,
        index=True,
    )
    # Revenue at risk when created: open quantity x unit price (USD).
    value_at_risk: Mapped[Decimal] = mapped_column(Money)
    expected_fulfillment_date: Mapped[date | None] = mapped_column(Date)
    priority: Mapped[float | None] = mapped_column(Float, index=True)  # the queue sorts on it
    allocation_status: Mapped[AllocationStatus] = mapped_column(
        enum_column(AllocationStatus, "allocation_status"),
        default=AllocationStatus.UNALLOCATED,
    )
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    history: Mapped[list[BackorderStatusChange]] = relationship(
        back_populates="backorder",
        order_by="BackorderStatusChange.id",
        cascade="all, delete-orphan",
    )


class BackorderStatusChange(Base):
    """Append-only record of every status a backorder entered: who, when, why."""

    __tablename__ = "backorder_status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backorder_id: Mapped[int] = mapped_column(ForeignKey("backorders.id"), index=True)
    from_status: Mapped[BackorderStatus | None] = mapped_column(
        enum_column(BackorderStatus, "from_status")
    )
    to_status: Mapped[BackorderStatus] = mapped_column(enum_column(BackorderStatus, "to_status"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_by: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)

    backorder: Mapped[Backorder] = relationship(back_populates="history")


# --- decisions and their records -----------------------------------------------------------

_ACTIVE_POLICY_SQL = "status = 'active'"


class PolicyVersion(Base):
    """One version of a policy document (weights, thresholds, routing). Exactly one is active."""

    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_policy_versions_name_version"),
        Index(
            "uq_policy_versions_one_active",
            "status",
            unique=True,
            sqlite_where=text(_ACTIVE_POLICY_SQL),
            postgresql_where=text(_ACTIVE_POLICY_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[PolicyStatus] = mapped_column(enum_column(PolicyStatus, "policy_status"))
    # The validated policy document (allotment.policy.schema.Policy, as JSON).
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # sha256 of the canonical JSON of ``document``: same text, same checksum.
    checksum: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    effective_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditRecord(Base):
    """An append-only, hash-chained record of a state change: who, when, what, before/after, why."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(120), index=True)
    role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    model_versions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    # sha256 over the previous record's hash and this record's canonical content.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


Index("ix_audit_records_entity", AuditRecord.entity_type, AuditRecord.entity_id)


class ScoreRun(Base):
    """One scoring pass over some or all open backorders, with the versions it used."""

    __tablename__ = "score_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "full", "ids", "event:<kind>", ...
    trigger: Mapped[str] = mapped_column(String(64))
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    # {"allotment-sla-breach": 3, ...}; a missing model is absent (the run is degraded).
    model_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    scored: Mapped[int] = mapped_column(Integer, default=0)
    degraded: Mapped[int] = mapped_column(Integer, default=0)
    # The day features were computed as of (explanations recompute them as of this day).
    as_of: Mapped[date | None] = mapped_column(Date)


class ScoreSnapshot(Base):
    """A backorder's risks, blend components and priority as scored by one run."""

    __tablename__ = "score_snapshots"
    __table_args__ = (Index("ix_score_snapshots_backorder_latest", "backorder_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("score_runs.id"), index=True)
    backorder_id: Mapped[int] = mapped_column(ForeignKey("backorders.id"))
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    model_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    p_supplier_delay: Mapped[float | None] = mapped_column(Float)
    p_sla_breach: Mapped[float | None] = mapped_column(Float)
    p_churn: Mapped[float | None] = mapped_column(Float)
    # {component name: money-equivalent value}; they add up to ``priority``.
    components: Mapped[dict[str, Any]] = mapped_column(JSON)
    priority: Mapped[float] = mapped_column(Float, index=True)
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Imputed inputs and fallbacks, e.g. [{"model": ..., "feature": ..., "problem": "nan"}].
    flags: Mapped[list[Any]] = mapped_column(JSON)
    # {model name: sha256 of the feature row it scored}: the explanation cache key.
    feature_digests: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the blend multiplied: {"multiplier": M, "exposures": {component: E (USD)},
    # "rule_only": bool}; with the policy version's weights an explanation splits a component
    # into feature parts without re-reading facts that may have changed since.
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ExplanationCache(Base):
    """Feature attributions of one model version on one feature row (keyed by its digest)."""

    __tablename__ = "explanation_cache"

    model_name: Mapped[str] = mapped_column(String(120), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    # {"base": float, "contributions": {feature: float}, "values": {feature: value}}
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AllocationRun(Base):
    """A committed allocation plan: who ran it, with which policy, and what it achieved."""

    __tablename__ = "allocation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    as_of: Mapped[date] = mapped_column(Date)
    # "optimal", "relaxed", "time_limit", "heuristic", "fallback" (never "infeasible").
    solver_status: Mapped[str] = mapped_column(String(32))
    # Objective values (USD): priority-weighted value minus transfer/substitution/lateness.
    objective: Mapped[float] = mapped_column(Float)
    greedy_objective: Mapped[float] = mapped_column(Float)
    lines: Mapped[int] = mapped_column(Integer)
    allocated_units: Mapped[int] = mapped_column(Integer)
    # Solver statistics, issues and the priority source, as JSON.
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Allocation(Base):
    """Units of one source (stock on hand or an open PO line) promised to one backorder."""

    __tablename__ = "allocations"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("allocation_runs.id"), index=True)
    backorder_id: Mapped[int] = mapped_column(ForeignKey("backorders.id"), index=True)
    # The SKU shipped (a substitute's when ``substitute``) and where the supply is.
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    po_line_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order_lines.id"))
    substitute: Mapped[bool] = mapped_column(Boolean, default=False)
    quantity: Mapped[int] = mapped_column(Integer)
    # Expected arrival at the order's location (transfer lead time and delay risk included).
    arrival: Mapped[date] = mapped_column(Date)
    # Value of the units at the order line's price (USD).
    value: Mapped[Decimal] = mapped_column(Money)
    # Objective gain per unit (USD).
    unit_gain: Mapped[float] = mapped_column(Float)


# --- the synthetic world's ground truth -----------------------------------------------------


class SimWorld(Base):
    """The synthetic world a database was generated from (at most one row)."""

    __tablename__ = "sim_worlds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scale: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    today: Mapped[date] = mapped_column(Date)
    policy: Mapped[str] = mapped_column(String(64))
    generator_version: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    state_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SimTruth(Base):
    """The true probability behind one drawn outcome, and the outcome (hidden from models)."""

    __tablename__ = "sim_truths"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id", "as_of", name="uq_sim_truths_kind_subject_as_of"),
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[TruthKind] = mapped_column(enum_column(TruthKind, "truth_kind"), index=True)
    # supplier_delay: purchase_order_lines.id; sla_breach: customer_order_lines.id;
    # churn: customers.id.
    subject_id: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    horizon_days: Mapped[int | None] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float)
    outcome: Mapped[bool | None] = mapped_column(Boolean)
    # Supplier delay: days late actually drawn (0 when on time).
    magnitude: Mapped[float | None] = mapped_column(Float)


# --- users of the service -------------------------------------------------------------------


class User(Base):
    """A person or machine client of the service, with exactly one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    # argon2id hash; None for a machine client that only authenticates with API keys.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key: the public ``prefix`` finds it, a SHA-256 of the random secret proves it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # sha256 hex of the secret (256 random bits, so a slow hash adds nothing but latency).
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- recommendations (actions for backorders the plan cannot resolve in time) ---------------

#: Statuses of a recommendation; the approval workflow moves them.
RECOMMENDATION_STATUSES: tuple[str, ...] = (
    "proposed",
    "pending_approval",
    "approved",
    "rejected",
    "executed",
    "superseded",
)


class Recommendation(Base):
    """One recommended action for one backorder, valued and routed (money in USD)."""

    __tablename__ = "recommendations"
    __table_args__ = (
        CheckConstraint(
            "status IN ('proposed', 'pending_approval', 'approved', 'rejected', 'executed',"
            " 'superseded')",
            name="status_known",
        ),
        Index(
            "ix_recommendations_customer_product_created", "customer_id", "product_id", "created_at"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backorder_id: Mapped[int] = mapped_column(ForeignKey("backorders.id"), index=True)
    # Denormalised so the 24-hour same-customer-and-SKU window is one indexed query.
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24), index=True)
    # 1 = best net value among the backorder's recommendations of one generation.
    rank: Mapped[int] = mapped_column(Integer)
    cost: Mapped[Decimal] = mapped_column(Money)
    benefit: Mapped[Decimal] = mapped_column(Money)
    net_value: Mapped[Decimal] = mapped_column(Money)
    # Money the action commits (fee, purchase, credit).
    committed: Mapped[Decimal] = mapped_column(Money)
    # This recommendation's approval amount (value at stake + money committed) ...
    amount: Mapped[Decimal] = mapped_column(Money)
    # ... and the amount it was routed on (summed over the same customer and SKU's window).
    routed_amount: Mapped[Decimal] = mapped_column(Money)
    route: Mapped[dict[str, Any]] = mapped_column(JSON)
    needs_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    explanation: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    model_versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allocation_run_id: Mapped[int | None] = mapped_column(ForeignKey("allocation_runs.id"))
    # The approval workflow (allotment.workflow.approvals): who submitted it and when, and
    # which step of its chain waits (index into ``route["chain"]`` and that step's role; both
    # null unless pending approval). The inbox filters on ``awaiting_role``.
    requested_by: Mapped[str | None] = mapped_column(String(120))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_step: Mapped[int | None] = mapped_column(Integer)
    awaiting_role: Mapped[str | None] = mapped_column(String(32), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    executed_by: Mapped[str | None] = mapped_column(String(120))

    approvals: Mapped[list[Approval]] = relationship(
        back_populates="recommendation", order_by="Approval.id"
    )


#: Decisions an approval row can record (``auto_approve``: the notification-only record of an
#: amount under the automatic threshold).
APPROVAL_DECISIONS = (
    "approve",
    "approve_with_conditions",
    "reject",
    "request_alternative",
    "auto_approve",
)
_LIVE_SQL = "NOT voided"


class Approval(Base):
    """One decision on one step of a recommendation's approval chain.

    A change to the recommendation (or a request for an alternative) voids the live decisions:
    they stay as history with ``voided`` set, and a new chain starts. At most one live decision
    per step, and per person, in a chain (the database refuses a second).
    """

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(
            "decision IN ('approve', 'approve_with_conditions', 'reject',"
            " 'request_alternative', 'auto_approve')",
            name="decision_known",
        ),
        Index(
            "uq_approvals_live_step",
            "recommendation_id",
            "step_index",
            unique=True,
            sqlite_where=text(_LIVE_SQL),
            postgresql_where=text(_LIVE_SQL),
        ),
        Index(
            "uq_approvals_live_person",
            "recommendation_id",
            "decided_by",
            unique=True,
            sqlite_where=text(_LIVE_SQL),
            postgresql_where=text(_LIVE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendations.id"), index=True)
    # 0-based index into the recommendation's ``route["chain"]`` (0 for the automatic record).
    step_index: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(32))
    decided_by: Mapped[str] = mapped_column(String(120))
    decision: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    conditions: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    recommendation: Mapped[Recommendation] = relationship(back_populates="approvals")


# --- escalations and the notification outbox -----------------------------------------------

#: Statuses of an outbox notification.
NOTIFICATION_STATUSES: tuple[str, ...] = ("pending", "retrying", "sent", "dead")


class BackorderEscalation(Base):
    """One escalation level a backorder reached (applied once: unique per trigger threshold)."""

    __tablename__ = "backorder_escalations"
    __table_args__ = (
        UniqueConstraint("backorder_id", "days_overdue", name="uq_backorder_escalations_level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backorder_id: Mapped[int] = mapped_column(ForeignKey("backorders.id"))
    # The trigger's threshold (days past the promised date) that identifies the level ...
    days_overdue: Mapped[int] = mapped_column(Integer)
    # ... and the days overdue the backorder actually had when it was applied.
    reached_days: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    # Whether the level moved the backorder to ``escalated`` (notify-only levels do not).
    escalated: Mapped[bool] = mapped_column(Boolean)
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_by: Mapped[str] = mapped_column(String(120))


class Notification(Base):
    """A message waiting in (or delivered from) the outbox, for one delivery channel."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dedupe_key", "channel", name="uq_notifications_dedupe_key_channel"),
        CheckConstraint("status IN ('pending', 'retrying', 'sent', 'dead')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "escalation", "approval_waiting", "approval_reminder", "customer_eta_change", ...
    kind: Mapped[str] = mapped_column(String(32))
    # "role:<role>", "customer:<code>", "user:<name>" or an e-mail address.
    recipient: Mapped[str] = mapped_column(String(200))
    # The sink that delivers it: "log", "webhook" or "smtp".
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dedupe_key: Mapped[str] = mapped_column(String(200))


# --- ingested events (idempotency log) and the re-score queue --------------------------------

#: What happened to an ingested event: its effect was applied; it was an ETA older than the one
#: applied (recorded, ignored); or its effect raised and it was parked with the error.
EVENT_STATUSES: tuple[str, ...] = ("applied", "stale", "parked")


class IngestedEvent(Base):
    """One event received from a connector: its id is the idempotency key.

    Written in the same transaction as the event's effect, so an id on record means its effect
    is on record too (or it was stale, or parked with its error and no effect).
    """

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("status IN ('applied', 'stale', 'parked')", name="status_known"),
        Index("ix_events_subject_occurred", "subject", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What an ETA-bearing event is about ("po_line:17"): the stale check's key; else None.
    subject: Mapped[str | None] = mapped_column(String(64))
    # sha256 of the canonical JSON of the validated payload (defaults filled in).
    payload_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # What the effect touched ({"backorders": [...], ...}); returned again for a repeated id.
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # "ErrorClass: message" of a parked event.
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_by: Mapped[str] = mapped_column(String(120))


class RescoreQueue(Base):
    """Backorders an event changed whose score is out of date (drained by the re-scorer)."""

    __tablename__ = "rescore_queue"

    backorder_id: Mapped[int] = mapped_column(ForeignKey("backorders.id"), primary_key=True)
    # Last time an event touched it: a drain removes the row only if nothing touched it since.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- outreach -------------------------------------------------------------------------------


class OutreachContact(Base):
    """A customer was contacted about their open backorders: who called, when, with what outcome."""

    __tablename__ = "outreach_contacts"
    __table_args__ = (
        Index("ix_outreach_contacts_customer_contacted", "customer_id", "contacted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    contacted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    contacted_by: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[ContactOutcome] = mapped_column(enum_column(ContactOutcome, "contact_outcome"))
    note: Mapped[str | None] = mapped_column(Text)
