"""What a file of each entity looks like: columns, types, constraints, keys and references.

The specs are declarative; :mod:`allotment.io.validate` checks a frame against them and
:mod:`allotment.io.importer` / :mod:`allotment.io.exporter` move rows between files and tables.
File column names are ours; database ids never appear in files. A reference to another entity
is written with that entity's natural key (``supplier_code``, ``po_number`` + ``po_line_no``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pandas as pd
from sqlalchemy import Table

from allotment.domain.enums import (
    BackorderStatus,
    CustomerStatus,
    OrderStatus,
    PurchaseOrderStatus,
    RootCause,
    ShipMode,
    Tier,
)
from allotment.domain.models import (
    Backorder,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    InventoryPosition,
    Location,
    Product,
    ProductSubstitute,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
)

# PostgreSQL INTEGER is 32-bit; a larger value would fail only at write time.
INT32_MAX = 2_147_483_647


class Kind(StrEnum):
    """The type of a file column, and how its text is parsed."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    MONEY = "money"  # USD, exact to the cent (Decimal)
    BOOL = "bool"
    DATE = "date"
    ENUM = "enum"


@dataclass(frozen=True)
class Column:
    """One column of an entity's file.

    Parameters
    ----------
    name
        Column name in the file, and (unless part of a reference) in the table.
    kind
        How the text is parsed.
    required
        Whether the column must be present and every cell filled.
    default
        Value for an optional column that is absent (on insert) or blank.
    default_from
        Name of another column whose value is the default (e.g. open quantity = quantity).
    enum
        Allowed values for ``Kind.ENUM``.
    min, max
        Inclusive bounds for numbers (``min=0`` means "not negative").
    max_length
        Longest text accepted (the database column's length).
    """

    name: str
    kind: Kind
    required: bool = True
    default: Any = None
    default_from: str | None = None
    enum: type[StrEnum] | None = None
    min: float | Decimal | None = None
    max: float | Decimal | None = None
    max_length: int | None = None

    @property
    def allowed(self) -> list[str]:
        """The enum's values, in declaration order."""
        return [member.value for member in self.enum] if self.enum else []


@dataclass(frozen=True)
class Reference:
    """File columns holding another entity's natural key, stored as a foreign-key id.

    Parameters
    ----------
    columns
        File columns, in the order of the target entity's natural key.
    entity
        Name of the referenced entity.
    db_column
        Foreign-key column of our table.
    required
        Whether every row must name a target; an optional reference may be all blank.
    """

    columns: tuple[str, ...]
    entity: str
    db_column: str
    required: bool = True


@dataclass(frozen=True)
class RowCheck:
    """A rule across columns of one row; ``bad`` returns True where a row breaks it."""

    columns: tuple[str, ...]
    reason: str
    bad: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class EntitySpec:
    """Everything the importer and exporter need to know about one entity.

    Parameters
    ----------
    name
        Entity name used on the command line (``customers``, ``order_lines``).
    model
        The ORM class whose table the rows go to.
    columns
        The file's columns (including reference columns).
    key
        File columns forming the natural key (unique in a file and in the table).
    references
        Foreign keys expressed by natural keys of other entities.
    checks
        Cross-column rules.
    """

    name: str
    model: type[Any]
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: tuple[Reference, ...] = ()
    checks: tuple[RowCheck, ...] = ()
    server_owned: tuple[str, ...] = field(default=())

    @property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def reference_for(self, column: str) -> Reference | None:
        """The reference a file column belongs to, if any."""
        for ref in self.references:
            if column in ref.columns:
                return ref
        return None

    @property
    def plain_columns(self) -> list[Column]:
        """Columns stored as-is in the table (not part of a reference)."""
        return [c for c in self.columns if self.reference_for(c.name) is None]

    @property
    def db_key(self) -> tuple[str, ...]:
        """Table columns that identify a row once references are resolved to ids."""
        out: list[str] = []
        for name in self.key:
            ref = self.reference_for(name)
            target = ref.db_column if ref else name
            if target not in out:
                out.append(target)
        return tuple(out)

    @property
    def has_id(self) -> bool:
        return "id" in self.table.c


def _s(name: str, length: int, *, required: bool = True, default: Any = None) -> Column:
    return Column(name, Kind.STR, required=required, default=default, max_length=length)


def _e(name: str, enum: type[StrEnum], *, required: bool = True, default: Any = None) -> Column:
    return Column(name, Kind.ENUM, required=required, default=default, enum=enum)


def _i(name: str, *, min: int = 0, required: bool = True, default: Any = None) -> Column:
    return Column(name, Kind.INT, required=required, default=default, min=min, max=INT32_MAX)


def _money(name: str, *, required: bool = True, default: Any = None) -> Column:
    return Column(name, Kind.MONEY, required=required, default=default, min=Decimal("0"))


def _d(name: str, *, required: bool = True) -> Column:
    return Column(name, Kind.DATE, required=required)


def _rate(name: str, *, max: float | None = None, default: float = 0.0) -> Column:
    return Column(name, Kind.FLOAT, required=False, default=default, min=0.0, max=max)


def _b(name: str, *, default: bool) -> Column:
    return Column(name, Kind.BOOL, required=False, default=default)


def _not_greater(small: str, large: str) -> RowCheck:
    return RowCheck(
        (small, large),
        f"{small} must not exceed {large}",
        lambda df: df[small] > df[large],
    )


def _not_before(later: str, earlier: str) -> RowCheck:
    return RowCheck(
        (later, earlier),
        f"{later} must not be before {earlier}",
        lambda df: df[later].notna() & df[earlier].notna() & (df[later] < df[earlier]),
    )


CODE = 64  # length of codes, numbers and SKUs in the schema
NAME = 200
REGION = 64

SUPPLIERS = EntitySpec(
    "suppliers",
    Supplier,
    (
        _s("code", CODE),
        _s("name", NAME),
        _s("region", REGION),
        _e("default_ship_mode", ShipMode),
        _i("lead_time_days"),
    ),
    key=("code",),
)

LOCATIONS = EntitySpec(
    "locations",
    Location,
    (_s("code", CODE), _s("name", NAME), _s("region", REGION)),
    key=("code",),
)

CUSTOMERS = EntitySpec(
    "customers",
    Customer,
    (
        _s("code", CODE),
        _s("name", NAME),
        _e("tier", Tier),
        _s("account_manager", 120, required=False),
        _s("region", REGION),
        _money("lifetime_value", required=False, default=Decimal("0.00")),
        _d("created_on"),
        _e("status", CustomerStatus, required=False, default=CustomerStatus.ACTIVE),
        _d("churned_on", required=False),
    ),
    key=("code",),
    checks=(_not_before("churned_on", "created_on"),),
)

CONTRACTS = EntitySpec(
    "contracts",
    Contract,
    (
        _s("customer_code", CODE),
        _i("version", min=1),
        _i("sla_days"),
        Column("fill_rate_commitment", Kind.FLOAT, min=0.0, max=1.0),
        _rate("penalty_rate_per_day"),
        _rate("penalty_cap_rate"),
        _b("allows_partial_ship", default=True),
        _b("allows_substitution", default=False),
        _d("effective_from"),
        _d("effective_to", required=False),
        _d("renewal_date"),
    ),
    key=("customer_code", "version"),
    references=(Reference(("customer_code",), "customers", "customer_id"),),
    checks=(_not_before("effective_to", "effective_from"),),
)

PRODUCTS = EntitySpec(
    "products",
    Product,
    (
        _s("sku", CODE),
        _s("name", NAME),
        _s("category", 64),
        _money("unit_price"),
        _money("unit_cost"),
        _s("supplier_code", CODE, required=False),
        _b("active", default=True),
    ),
    key=("sku",),
    references=(Reference(("supplier_code",), "suppliers", "supplier_id", required=False),),
)

PRODUCT_SUBSTITUTES = EntitySpec(
    "product_substitutes",
    ProductSubstitute,
    (_s("sku", CODE), _s("substitute_sku", CODE), _rate("price_premium_rate")),
    key=("sku", "substitute_sku"),
    references=(
        Reference(("sku",), "products", "product_id"),
        Reference(("substitute_sku",), "products", "substitute_id"),
    ),
    checks=(
        RowCheck(
            ("sku", "substitute_sku"),
            "a product cannot substitute itself",
            lambda df: df["sku"] == df["substitute_sku"],
        ),
    ),
)

INVENTORY = EntitySpec(
    "inventory",
    InventoryPosition,
    (
        _s("sku", CODE),
        _s("location_code", CODE),
        _i("on_hand"),
        _i("committed", required=False, default=0),
    ),
    key=("sku", "location_code"),
    references=(
        Reference(("sku",), "products", "product_id"),
        Reference(("location_code",), "locations", "location_id"),
    ),
    server_owned=("updated_at",),
)

PURCHASE_ORDERS = EntitySpec(
    "purchase_orders",
    PurchaseOrder,
    (
        _s("number", CODE),
        _s("supplier_code", CODE),
        _s("location_code", CODE),
        _d("ordered_on"),
        _e("ship_mode", ShipMode),
        _e("status", PurchaseOrderStatus, required=False, default=PurchaseOrderStatus.OPEN),
    ),
    key=("number",),
    references=(
        Reference(("supplier_code",), "suppliers", "supplier_id"),
        Reference(("location_code",), "locations", "location_id"),
    ),
)

PURCHASE_ORDER_LINES = EntitySpec(
    "purchase_order_lines",
    PurchaseOrderLine,
    (
        _s("po_number", CODE),
        _i("line_no", min=1),
        _s("sku", CODE),
        _i("quantity", min=1),
        _money("unit_cost"),
        _d("promised_date"),
        _d("current_eta", required=False),
        _i("received_quantity", required=False, default=0),
        _d("received_on", required=False),
        _e("status", PurchaseOrderStatus, required=False, default=PurchaseOrderStatus.OPEN),
    ),
    key=("po_number", "line_no"),
    references=(
        Reference(("po_number",), "purchase_orders", "purchase_order_id"),
        Reference(("sku",), "products", "product_id"),
    ),
    checks=(_not_greater("received_quantity", "quantity"),),
)

ORDERS = EntitySpec(
    "orders",
    CustomerOrder,
    (
        _s("number", CODE),
        _s("customer_code", CODE),
        _s("location_code", CODE),
        _d("ordered_on"),
        _d("requested_date"),
        _d("promised_date"),
        _b("is_emergency", default=False),
        _e("status", OrderStatus, required=False, default=OrderStatus.OPEN),
    ),
    key=("number",),
    references=(
        Reference(("customer_code",), "customers", "customer_id"),
        Reference(("location_code",), "locations", "location_id"),
    ),
)

ORDER_LINES = EntitySpec(
    "order_lines",
    CustomerOrderLine,
    (
        _s("order_number", CODE),
        _i("line_no", min=1),
        _s("sku", CODE),
        _i("quantity", min=1),
        _money("unit_price"),
        _i("shipped_quantity", required=False, default=0),
        _s("po_number", CODE, required=False),
        _i("po_line_no", min=1, required=False),
        _e("status", OrderStatus, required=False, default=OrderStatus.OPEN),
        _d("shipped_on", required=False),
    ),
    key=("order_number", "line_no"),
    references=(
        Reference(("order_number",), "orders", "order_id"),
        Reference(("sku",), "products", "product_id"),
        Reference(
            ("po_number", "po_line_no"), "purchase_order_lines", "po_line_id", required=False
        ),
    ),
    checks=(_not_greater("shipped_quantity", "quantity"),),
)

BACKORDERS = EntitySpec(
    "backorders",
    Backorder,
    (
        _s("number", CODE),
        _s("order_number", CODE),
        _i("line_no", min=1),
        _s("po_number", CODE, required=False),
        _i("po_line_no", min=1, required=False),
        _i("quantity", min=1),
        Column("open_quantity", Kind.INT, required=False, default_from="quantity", min=0),
        _e("root_cause", RootCause),
        _e("status", BackorderStatus, required=False, default=BackorderStatus.OPEN),
        _money("value_at_risk"),
        _d("expected_fulfillment_date", required=False),
        Column("reason", Kind.STR, required=False),
    ),
    key=("number",),
    references=(
        Reference(("order_number", "line_no"), "order_lines", "order_line_id"),
        Reference(
            ("po_number", "po_line_no"), "purchase_order_lines", "po_line_id", required=False
        ),
    ),
    checks=(_not_greater("open_quantity", "quantity"),),
    # Priority and allocation belong to the scoring and allocation stages, the audit columns
    # to the importer; a file never sets them.
    server_owned=(
        "priority",
        "allocation_status",
        "created_at",
        "created_by",
        "updated_at",
        "closed_at",
    ),
)

# In dependency order: an entity only references entities listed before it.
ENTITIES: Mapping[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        SUPPLIERS,
        LOCATIONS,
        CUSTOMERS,
        CONTRACTS,
        PRODUCTS,
        PRODUCT_SUBSTITUTES,
        INVENTORY,
        PURCHASE_ORDERS,
        PURCHASE_ORDER_LINES,
        ORDERS,
        ORDER_LINES,
        BACKORDERS,
    )
}


def get_spec(name: str) -> EntitySpec:
    """The spec of entity ``name``; ``KeyError`` lists the known ones."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}") from None
