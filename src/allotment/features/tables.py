"""Load the domain tables the features need, once, as pandas frames of day numbers.

Every date and timestamp is turned into a **day number** (``int64`` days since 1970-01-01,
UTC): feature arithmetic is then plain integer arithmetic, and "known as of day T" is
``day <= T``. A timestamp counts on its calendar day (UTC). Missing dates are :data:`NEVER`.
Money is read as integer cents and converted to float USD.

Only domain tables are read here, never ``sim_*`` (see :mod:`allotment.features.oracle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Connection, Engine, Executable, String, select, type_coerce
from sqlalchemy.types import DateTime

from allotment.domain.models import (
    Backorder,
    BackorderStatusChange,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    EtaChange,
    ProductSubstitute,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    Shipment,
    Supplier,
)
from allotment.errors import FeatureDataError
from allotment.features.oracle import load_truths

#: Day number standing for "no such date" (later than any real date).
NEVER = np.int64(2**40)
_EPOCH = np.datetime64("1970-01-01", "D")


def to_day(value: date | datetime | pd.Timestamp | np.datetime64 | str) -> int:
    """Day number (days since 1970-01-01) of a date, datetime or timestamp (UTC)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int((ts.normalize().to_datetime64().astype("datetime64[D]") - _EPOCH).astype(np.int64))


def day_to_timestamp(days: pd.Series | np.ndarray[Any, Any]) -> pd.Series:
    """Day numbers -> ``datetime64[ns]`` (midnight, UTC-naive)."""
    arr = np.asarray(days, dtype=np.int64)
    return pd.Series((_EPOCH + arr.astype("timedelta64[D]")).astype("datetime64[ns]"))


def _days(values: pd.Series) -> pd.Series:
    """A column of dates / datetimes (None allowed) -> int64 day numbers (NEVER for None)."""
    if len(values) == 0:
        return pd.Series(np.zeros(0, dtype=np.int64), index=values.index)
    ts = pd.to_datetime(values, utc=True)
    out = np.full(len(values), NEVER, dtype=np.int64)
    present = ts.notna().to_numpy()
    naive = ts[present].dt.tz_localize(None).dt.floor("D").to_numpy().astype("datetime64[D]")
    out[present] = (naive - _EPOCH).astype(np.int64)
    return pd.Series(out, index=values.index)


@dataclass(frozen=True)
class Tables:
    """The domain facts features are computed from (one load, shared by all builders).

    Day columns end in ``_day`` (int64 day numbers, :data:`NEVER` when absent); money columns
    end in ``_usd`` (float USD).
    """

    suppliers: pd.DataFrame
    customers: pd.DataFrame
    contracts: pd.DataFrame
    substitutes: pd.DataFrame
    purchase_orders: pd.DataFrame
    po_lines: pd.DataFrame
    eta_changes: pd.DataFrame
    receipts: pd.DataFrame
    orders: pd.DataFrame
    order_lines: pd.DataFrame
    shipments: pd.DataFrame
    backorders: pd.DataFrame
    status_changes: pd.DataFrame
    #: ``sim_truths`` (synthetic worlds only): read by :mod:`allotment.features.oracle` to
    #: attach true probabilities to training frames, never by a feature.
    truths: pd.DataFrame

    @property
    def data_end(self) -> int:
        """The latest day any dated fact was recorded (the default scoring day)."""
        candidates = [
            self.orders["ordered_day"],
            self.purchase_orders["ordered_day"],
            self.receipts["received_day"],
            self.shipments["shipped_day"],
            self.eta_changes["recorded_day"],
            self.status_changes["changed_day"],
            self.backorders["created_day"],
        ]
        ends = [int(c.max()) for c in candidates if len(c)]
        if not ends:
            raise FeatureDataError(
                "the database holds no dated facts to build features from;"
                " generate a world (`allotment generate`) or import your history first"
            )
        return max(ends)


def _frame(conn: Connection, stmt: Executable) -> pd.DataFrame:
    result = conn.execute(stmt)
    names = list(result.keys())
    # Plain tuples: building from Row objects costs pandas a hasattr() per row.
    rows = [tuple(row) for row in result]
    return pd.DataFrame.from_records(rows, columns=names, nrows=len(rows))


def _cents(column: Any) -> Any:
    """Read a Money column as raw integer cents (skips per-row Decimal conversion)."""
    return type_coerce(column, BigInteger)


def _text(column: Any) -> Any:
    """Read an enum column as its stored string (skips per-row enum conversion)."""
    return type_coerce(column, String())


def _naive(column: Any) -> Any:
    """Read a UTC timestamp column as a naive datetime (stored naive-UTC)."""
    return type_coerce(column, DateTime())


def load_tables(source: Engine | Connection) -> Tables:
    """Read every table the features need, in one read-only pass.

    Parameters
    ----------
    source
        An engine (a connection is opened and closed) or an open connection (the caller's
        transaction is used, so uncommitted changes are seen).

    Returns
    -------
    Tables
        The facts as pandas frames (see :class:`Tables`).
    """
    if isinstance(source, Engine):
        with source.connect() as conn:
            return load_tables(conn)
    conn = source
    sup = _frame(conn, select(Supplier.id, Supplier.region))
    cust = _frame(
        conn,
        select(
            Customer.id,
            _text(Customer.tier).label("tier"),
            Customer.created_on,
            Customer.churned_on,
        ),
    )
    cust["created_day"] = _days(cust.pop("created_on"))
    cust["churned_day"] = _days(cust.pop("churned_on"))
    con = _frame(
        conn,
        select(
            Contract.customer_id,
            Contract.version,
            Contract.sla_days,
            Contract.penalty_rate_per_day,
            Contract.allows_partial_ship,
            Contract.effective_from,
            Contract.renewal_date,
        ),
    )
    con["from_day"] = _days(con.pop("effective_from"))
    con["renewal_day"] = _days(con.pop("renewal_date"))
    subs = _frame(conn, select(ProductSubstitute.product_id, ProductSubstitute.substitute_id))
    po = _frame(
        conn,
        select(
            PurchaseOrder.id,
            PurchaseOrder.supplier_id,
            PurchaseOrder.location_id,
            PurchaseOrder.ordered_on,
            _text(PurchaseOrder.ship_mode).label("ship_mode"),
        ),
    )
    po["ordered_day"] = _days(po.pop("ordered_on"))
    pol = _frame(
        conn,
        select(
            PurchaseOrderLine.id,
            PurchaseOrderLine.purchase_order_id,
            PurchaseOrderLine.product_id,
            PurchaseOrderLine.quantity,
            _cents(PurchaseOrderLine.unit_cost).label("unit_cost_cents"),
            PurchaseOrderLine.promised_date,
            _text(PurchaseOrderLine.status).label("status"),
        ),
    )
    pol["promised_day"] = _days(pol.pop("promised_date"))
    pol["unit_cost_usd"] = pol.pop("unit_cost_cents").astype(np.float64) / 100.0
    eta = _frame(
        conn,
        select(
            EtaChange.id,
            EtaChange.po_line_id,
            _naive(EtaChange.recorded_at).label("recorded_at"),
            EtaChange.previous_eta,
            EtaChange.new_eta,
        ),
    )
    eta["recorded_day"] = _days(eta.pop("recorded_at"))
    eta["previous_day"] = _days(eta.pop("previous_eta"))
    eta["new_day"] = _days(eta.pop("new_eta"))
    rec = _frame(conn, select(Receipt.po_line_id, Receipt.received_on, Receipt.quantity))
    rec["received_day"] = _days(rec.pop("received_on"))
    orders = _frame(
        conn,
        select(
            CustomerOrder.id,
            CustomerOrder.customer_id,
            CustomerOrder.location_id,
            CustomerOrder.ordered_on,
            CustomerOrder.promised_date,
            CustomerOrder.is_emergency,
        ),
    )
    orders["ordered_day"] = _days(orders.pop("ordered_on"))
    orders["promised_day"] = _days(orders.pop("promised_date"))
    lines = _frame(
        conn,
        select(
            CustomerOrderLine.id,
            CustomerOrderLine.order_id,
            CustomerOrderLine.product_id,
            CustomerOrderLine.quantity,
            _cents(CustomerOrderLine.unit_price).label("unit_price_cents"),
        ),
    )
    lines["unit_price_usd"] = lines.pop("unit_price_cents").astype(np.float64) / 100.0
    ship = _frame(conn, select(Shipment.order_line_id, Shipment.shipped_on, Shipment.quantity))
    ship["shipped_day"] = _days(ship.pop("shipped_on"))
    bos = _frame(
        conn,
        select(
            Backorder.id,
            Backorder.order_line_id,
            Backorder.po_line_id,
            Backorder.quantity.label("backorder_quantity"),
            _naive(Backorder.created_at).label("created_at"),
        ),
    )
    bos["created_day"] = _days(bos.pop("created_at"))
    hist = _frame(
        conn,
        select(
            BackorderStatusChange.id,
            BackorderStatusChange.backorder_id,
            _text(BackorderStatusChange.to_status).label("to_status"),
            _naive(BackorderStatusChange.changed_at).label("changed_at"),
        ),
    )
    hist["changed_day"] = _days(hist.pop("changed_at"))
    return Tables(
        suppliers=sup,
        customers=cust,
        contracts=con,
        substitutes=subs,
        purchase_orders=po,
        po_lines=pol,
        eta_changes=eta,
        receipts=rec,
        orders=orders,
        order_lines=lines,
        shipments=ship,
        backorders=bos,
        status_changes=hist,
        truths=load_truths(conn),
    )
