"""Backorder patterns by supplier, product, category, month and root cause."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus, RootCause
from allotment.insights.analytics import Dimension, patterns
from tests import factories
from tests.insights.helpers import at, backorder


@pytest.fixture
def history(session: Session) -> dict[str, int]:
    """Two January backorders of a valve (one resolved after 3.5 days, one cancelled) and two
    February ones of a sensor waiting on Global's PO line; one from December (outside)."""
    global_ = factories.supplier(session, name="Global")
    valve = factories.product(session, sku="VALVE-1", category="valves")
    sensor = factories.product(session, sku="SENSOR-1", category="sensors")
    po = factories.po_line(session, supplier_id=global_.id, product_id=sensor.id)
    backorder(
        session, created=at(date(2025, 1, 10)), product_id=valve.id, quantity=2,
        status=BackorderStatus.RESOLVED, closed_at=at(date(2025, 1, 13), 12),
        root_cause=RootCause.QUALITY,
    )  # fmt: skip
    backorder(
        session, created=at(date(2025, 1, 20)), product_id=valve.id, quantity=4,
        status=BackorderStatus.CANCELLED, closed_at=at(date(2025, 1, 21)),
    )  # fmt: skip
    for day in (3, 5):
        backorder(session, created=at(date(2025, 2, day)), product_id=sensor.id, po_line_id=po.id)
    backorder(session, created=at(date(2024, 12, 30)), product_id=valve.id)
    return {"global": global_.id, "valve": valve.id, "sensor": sensor.id}


def test_by_month_in_calendar_order_within_the_period(
    session: Session, history: dict[str, int]
) -> None:
    got = patterns(session, by=Dimension.MONTH, since=date(2025, 1, 1), until=date(2025, 3, 1))
    assert got.total_backorders == 4
    assert [(g.key, g.backorders, g.units, g.value) for g in got.groups] == [
        ("2025-01", 2, 6, Decimal("3000.00")),
        ("2025-02", 2, 20, Decimal("10000.00")),
    ]
    jan = got.groups[0]
    assert (jan.active, jan.resolved, jan.cancelled) == (0, 1, 1)
    assert jan.average_resolution_days == 3.5  # the cancelled one does not count


def test_by_category_largest_first_with_shares(session: Session, history: dict[str, int]) -> None:
    got = patterns(session, by=Dimension.CATEGORY)  # no bounds: all five
    assert [(g.key, g.backorders, g.share) for g in got.groups] == [
        ("valves", 3, 0.6),
        ("sensors", 2, 0.4),
    ]


def test_by_supplier_names_the_po_lines_supplier(session: Session, history: dict[str, int]) -> None:
    got = patterns(session, by=Dimension.SUPPLIER, since=date(2025, 2, 1))
    assert [(g.key, g.label, g.backorders, g.active) for g in got.groups] == [
        (str(history["global"]), "Global", 2, 2)
    ]


def test_by_product_and_root_cause(session: Session, history: dict[str, int]) -> None:
    by_product = patterns(session, by=Dimension.PRODUCT, since=date(2025, 1, 1))
    assert [(g.label, g.backorders) for g in by_product.groups] == [
        ("SENSOR-1", 2),
        ("VALVE-1", 2),
    ]  # a tie on count: the higher value first
    by_cause = patterns(session, by=Dimension.ROOT_CAUSE, since=date(2025, 1, 1))
    assert [(g.key, g.backorders) for g in by_cause.groups] == [
        ("supplier_delay", 3),
        ("quality", 1),
    ]


def test_limit_keeps_the_total(session: Session, history: dict[str, int]) -> None:
    got = patterns(session, by=Dimension.CATEGORY, limit=1)
    assert len(got.groups) == 1 and got.total_backorders == 5
