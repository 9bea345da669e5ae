"""Test-data factories: keyword-only overrides on sensible defaults; each flushes and returns."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.domain.enums import ShipMode, Tier
from allotment.domain.models import (
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
)

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def _save(session: Session, obj: Any, overrides: dict[str, Any]) -> Any:
    for key, value in overrides.items():
        if not hasattr(type(obj), key):
            raise AttributeError(f"{type(obj).__name__} has no field {key!r}")
        setattr(obj, key, value)
    session.add(obj)
    session.flush()
    return obj


def supplier(session: Session, **overrides: Any) -> Supplier:
    n = _n()
    obj = Supplier(
        code=f"SUP-{n}",
        name=f"Supplier {n}",
        region="asia",
        default_ship_mode=ShipMode.OCEAN,
        lead_time_days=30,
    )
    return _save(session, obj, overrides)  # type: ignore[no-any-return]


def location(session: Session, **overrides: Any) -> Location:
    n = _n()
    return _save(session, Location(code=f"WH-{n}", name=f"Warehouse {n}", region="west"), overrides)  # type: ignore[no-any-return]


def product(session: Session, **overrides: Any) -> Product:
    n = _n()
    obj = Product(
        sku=f"SKU-{n}",
        name=f"Control Module {n}",
        category="control modules",
        unit_price=Decimal("500.00"),
        unit_cost=Decimal("320.00"),
        supplier_id=overrides.pop("supplier_id", None) or supplier(session).id,
    )
    return _save(session, obj, overrides)  # type: ignore[no-any-return]


def customer(session: Session, *, contract: bool = True, **overrides: Any) -> Customer:
    n = _n()
    obj = Customer(
        code=f"CUST-{n}",
        name=f"Customer {n}",
        tier=Tier.STANDARD,
        account_manager="am.jones",
        region="west",
        lifetime_value=Decimal("100000.00"),
        created_on=date(2023, 1, 1),
    )
    saved: Customer = _save(session, obj, overrides)
    if contract:
        session.add(
            Contract(
                customer_id=saved.id,
                version=1,
                sla_days=5,
                fill_rate_commitment=0.95,
                penalty_rate_per_day=0.005,
                penalty_cap_rate=0.1,
                allows_partial_ship=True,
                allows_substitution=False,
                effective_from=date(2023, 1, 1),
                renewal_date=date(2026, 1, 1),
            )
        )
        session.flush()
    return saved


def po_line(session: Session, **overrides: Any) -> PurchaseOrderLine:
    """A purchase order with one line (override the line's fields)."""
    n = _n()
    prod_id = overrides.pop("product_id", None) or product(session).id
    po = PurchaseOrder(
        number=f"PO-2025-{n:04d}",
        supplier_id=overrides.pop("supplier_id", None) or supplier(session).id,
        location_id=overrides.pop("location_id", None) or location(session).id,
        ordered_on=date(2025, 1, 1),
        ship_mode=ShipMode.OCEAN,
    )
    session.add(po)
    session.flush()
    obj = PurchaseOrderLine(
        purchase_order_id=po.id,
        line_no=1,
        product_id=prod_id,
        quantity=100,
        unit_cost=Decimal("320.00"),
        promised_date=date(2025, 1, 25),
        current_eta=date(2025, 1, 25),
    )
    return _save(session, obj, overrides)  # type: ignore[no-any-return]


def order_line(session: Session, **overrides: Any) -> CustomerOrderLine:
    """A customer order with one line. Order-level overrides: customer_id, promised_date,
    is_emergency, location_id."""
    n = _n()
    order = CustomerOrder(
        number=f"SO-2025-{n:05d}",
        customer_id=overrides.pop("customer_id", None) or customer(session).id,
        location_id=overrides.pop("location_id", None) or location(session).id,
        ordered_on=date(2025, 1, 10),
        requested_date=date(2025, 1, 20),
        promised_date=overrides.pop("promised_date", date(2025, 1, 27)),
        is_emergency=overrides.pop("is_emergency", False),
    )
    session.add(order)
    session.flush()
    obj = CustomerOrderLine(
        order_id=order.id,
        line_no=1,
        product_id=overrides.pop("product_id", None) or product(session).id,
        quantity=50,
        unit_price=Decimal("500.00"),
    )
    return _save(session, obj, overrides)  # type: ignore[no-any-return]


def user(session: Session, **overrides: Any) -> Any:
    """A service user (role planner, no password: tests mint tokens or API keys for it)."""
    from allotment.domain.models import User
    from allotment.users.roles import Role

    n = _n()
    obj = User(name=f"user{n}", role=overrides.pop("role", Role.PLANNER), active=True)
    return _save(session, obj, overrides)


def inventory(session: Session, **overrides: Any) -> Any:
    """An inventory position (needs product_id and location_id): 100 on hand, none committed."""
    from allotment.domain.models import InventoryPosition

    obj = InventoryPosition(
        product_id=overrides.pop("product_id"),
        location_id=overrides.pop("location_id"),
        on_hand=100,
        committed=0,
    )
    return _save(session, obj, overrides)


def backorder(session: Session, **overrides: Any) -> Any:
    """An open backorder of a new order line (``customer_id``, ``quantity`` go to the line).

    Value at risk is quantity × the line's $500 unit price; created 2025-02-01 (UTC).
    """
    from datetime import UTC, datetime

    from allotment.domain.enums import BackorderStatus, RootCause
    from allotment.domain.models import Backorder

    quantity = overrides.pop("quantity", 10)
    line = order_line(session, customer_id=overrides.pop("customer_id", None), quantity=quantity)
    obj = Backorder(
        number=f"BO-2025-{line.id:07d}",
        order_line_id=line.id,
        quantity=quantity,
        open_quantity=quantity,
        root_cause=RootCause.SUPPLIER_DELAY,
        status=BackorderStatus.OPEN,
        value_at_risk=line.unit_price * quantity,
        created_by="test",
        created_at=datetime(2025, 2, 1, tzinfo=UTC),
    )
    return _save(session, obj, overrides)
