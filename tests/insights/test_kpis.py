"""KPIs over February 2025 on four orders, each definition checked by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus
from allotment.domain.models import CustomerOrder, CustomerOrderLine
from allotment.insights.kpis import Kpis, kpis
from tests import factories
from tests.insights.helpers import at, backorder

FEB, MAR = date(2025, 2, 1), date(2025, 3, 1)


def _placed(session: Session, line: CustomerOrderLine, day: date) -> None:
    order = session.get(CustomerOrder, line.order_id)
    assert order is not None
    order.ordered_on = day
    session.flush()


@pytest.fixture
def period(session: Session) -> Kpis:
    """In February: A (50 units, 10 backordered), B (50, none), D (20 units, backordered 15
    then 15 again: capped at 20); in January: C (5 backordered, still open).
    A's and B's lines wait on a PO line now due 03-10, after their promised 01-27; E's on one
    received on time."""
    late_po = factories.po_line(session, current_eta=date(2025, 3, 10))
    on_time_po = factories.po_line(session, received_on=date(2025, 1, 20))
    a = backorder(session, created=at(date(2025, 2, 5)), ordered_on=FEB, po_line_id=late_po.id)
    line_a = session.get(CustomerOrderLine, a.order_line_id)
    assert line_a is not None
    line_a.quantity, line_a.po_line_id = 50, late_po.id
    b = factories.order_line(session, quantity=50, po_line_id=late_po.id)
    _placed(session, b, date(2025, 2, 10))
    e = factories.order_line(session, quantity=10, po_line_id=on_time_po.id)
    _placed(session, e, date(2025, 2, 10))
    d1 = backorder(
        session, created=at(date(2025, 2, 1)), quantity=15, ordered_on=date(2025, 2, 28),
        status=BackorderStatus.RESOLVED, closed_at=at(date(2025, 2, 4), 12),
    )  # fmt: skip
    line_d = session.get(CustomerOrderLine, d1.order_line_id)
    assert line_d is not None
    line_d.quantity = 20
    backorder(session, created=at(date(2025, 2, 6)), quantity=15, order_line_id=line_d.id)
    backorder(session, created=at(date(2025, 1, 20)), quantity=5, ordered_on=date(2025, 1, 31))
    session.flush()
    return kpis(session, since=FEB, until=MAR)


def test_backorder_rate_is_orders_with_a_backordered_line(period: Kpis) -> None:
    # A, B, D and E placed in February; A and D backordered (C is January's).
    assert (period.orders, period.backordered_orders, period.backorder_rate) == (4, 2, 0.5)


def test_fill_rate_counts_backordered_units_capped_at_the_line(period: Kpis) -> None:
    assert (period.units_ordered, period.units_backordered) == (130, 30)  # 50+50+20+10; 10+20
    assert period.fill_rate == round(1 - 30 / 130, 4)


def test_average_resolution_time_of_resolved_backorders_closed_in_the_period(
    period: Kpis,
) -> None:
    assert (period.resolved_backorders, period.average_resolution_days) == (1, 3.5)


def test_revenue_at_risk_is_the_open_value_of_the_active_backlog(period: Kpis) -> None:
    # A 10, D's second 15, C 5 units at $500, whatever the period.
    assert (period.active_backorders, period.revenue_at_risk) == (3, Decimal("15000.00"))


def test_prevention_rate_is_late_supply_that_never_became_a_backorder(period: Kpis) -> None:
    # A and B wait on supply due after their promise; B got no backorder. E's came on time.
    assert (period.late_supply_lines, period.prevented_lines, period.prevention_rate) == (
        2,
        1,
        0.5,
    )


def test_an_empty_period_has_no_rates(session: Session) -> None:
    got = kpis(session, since=FEB, until=MAR)
    assert (got.backorder_rate, got.fill_rate, got.prevention_rate) == (None, None, None)
    assert got.average_resolution_days is None and got.revenue_at_risk == Decimal("0")
