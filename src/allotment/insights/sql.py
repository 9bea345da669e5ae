"""Portable SQL pieces the insights share: day differences, months, open value, the reference day.

Date arithmetic differs between SQLite (``julianday``, ``strftime``) and PostgreSQL (interval
subtraction, ``to_char``); the two constructs below compile to each dialect's form, so a query
is written once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, String, func, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from allotment.db.types import Money
from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import Backorder, CustomerOrderLine, Product, PurchaseOrder


class days_between(FunctionElement[float]):
    """``later - earlier`` in days (fractional for timestamps), for dates or timestamps."""

    type = Float()
    inherit_cache = True
    name = "days_between"


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"(julianday({compiler.process(later, **kw)})"
        f" - julianday({compiler.process(earlier, **kw)}))"
    )


@compiles(days_between, "postgresql")
def _days_postgresql(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"(EXTRACT(EPOCH FROM (CAST({compiler.process(later, **kw)} AS TIMESTAMP)"
        f" - CAST({compiler.process(earlier, **kw)} AS TIMESTAMP))) / 86400.0)"
    )


class year_month(FunctionElement[str]):
    """``'YYYY-MM'`` of a date or timestamp."""

    type = String()
    inherit_cache = True
    name = "year_month"


@compiles(year_month, "sqlite")
def _month_sqlite(element: year_month, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


@compiles(year_month, "postgresql")
def _month_postgresql(element: year_month, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"


def open_value() -> ColumnElement[Any]:
    """Revenue still at risk on a backorder row: open quantity × the line's unit price (USD).

    Needs ``customer_order_lines`` joined. Unlike ``backorders.value_at_risk`` (fixed when the
    backorder was opened), it falls as units are shipped.
    """
    return type_coerce(Backorder.open_quantity * CustomerOrderLine.unit_price, Money)


def backorder_supplier() -> Any:
    """A backorder's supplier: its PO's, else its product's usual one (needs both joined)."""
    return func.coalesce(PurchaseOrder.supplier_id, Product.supplier_id)


def usd_sum(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """``SUM`` of a money expression read back as ``Decimal`` USD (0 over no rows)."""
    return type_coerce(func.coalesce(func.sum(expr), 0), Money)


def is_active() -> ColumnElement[bool]:
    """The backorder still needs work (not resolved, not cancelled)."""
    return Backorder.status.in_(sorted(ACTIVE_STATUSES))


def reference_day(session: Session) -> date:
    """The day "today" means for the backlog: the scoring commands' day (see ``scoring_day``).

    A generated world lives on its own calendar, so its backlog is aged against its own today.
    """
    from allotment.scoring.whatif import scoring_day  # pandas: loaded only when asked

    return scoring_day(session)


def shift(day: date, days: int) -> date:
    """``day`` + ``days``, held within the calendar (``date.min`` .. ``date.max``)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def share(part: int, whole: int) -> float:
    """``part / whole`` (0 when ``whole`` is 0), rounded to 4 decimals."""
    return round(part / whole, 4) if whole else 0.0
