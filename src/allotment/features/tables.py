"""Load the domain tables the features need, once, as pandas frames of day numbers.

Every date and timestamp is turned into a **day number** (``int64`` days since 1970-01-01,
UTC): feature arithmetic is then plain integer arithmetic, and "known as of day T" is
``day <= T``. A timestamp counts on its calendar day (UTC). Missing dates are :data:`NEVER`.
Money is read as integer cents and converted to float USD.

Only domain tables are read here, never ``sim_*`` (see :mod:`allotment.features.oracle`).
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    cast,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import DateTime

from allotment.domain.enums import BackorderStatus
from allotment.domain.models import (
    ACTIVE_BACKORDER_STATUSES,
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

_T = TypeVar("_T")
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
    #: attach true probabilities to training frames, never by a feature. ``None`` when loaded
    #: without them (scoring), and then no frame with labels can be built.
    truths: pd.DataFrame | None
    #: The latest day with data in the whole database when the frames hold only the facts of
    #: some backorders (``load_tables(..., backorders=...)``); ``None``: read from the frames.
    end_day: int | None = None
    #: Derived facts already computed from these tables (see :meth:`derived`).
    _derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def data_end(self) -> int:
        """The latest day any dated fact was recorded (the default scoring day)."""
        if self.end_day is not None:
            return self.end_day
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

    def derived(self, name: str, build: Callable[[Tables], _T]) -> _T:
        """``build(self)``, computed once per loaded tables and shared by every frame built
        from them (e.g. the PO-line facts both the supplier-delay and SLA frames read).

        The result is shared: callers must not modify it in place.
        """
        if name not in self._derived:
            self._derived[name] = build(self)
        out: _T = self._derived[name]
        return out


def read_frame(
    conn: Connection, stmt: Select[*tuple[Any, ...]], *, days: Iterable[str] = ()
) -> pd.DataFrame:
    """The rows of ``stmt`` as a frame, read with the driver's own ``fetchall``.

    Millions of rows: SQLAlchemy's per-row result objects would cost more than the database.
    The statement must need no result processing except booleans (SQLite returns 0/1): read
    days with :func:`_day`, money with :func:`_cents`, enums with :func:`_text`.
    """
    types = [c.type._type_affinity for c in stmt.selected_columns]
    names = [str(c.key) for c in stmt.selected_columns]
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "sqlite" and all(t in _CONCAT_TYPES for t in types):
            columns = _sqlite_columns(cursor, sql, names, types)
            if columns is not None:
                return _finish_frame(columns, names, types, days)
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:  # typed columns, so that sums and joins of an empty table still work
        return pd.DataFrame(
            {
                n: pd.Series(dtype=_EMPTY_DTYPES.get(t, object))
                for n, t in zip(names, types, strict=True)
            }
        )
    frame = None
    if all(t is Integer or t is Boolean for t in types):
        try:  # all integers (booleans: 0/1) and no NULL: one C-level conversion
            frame = pd.DataFrame(np.array(rows, dtype=np.int64), columns=names)
        except (TypeError, ValueError):
            frame = None
    if frame is None:
        frame = pd.DataFrame.from_records(rows, columns=names, nrows=len(rows))
    return _finish_frame(frame, names, types, days)


def _finish_frame(
    frame: pd.DataFrame, names: list[str], types: list[Any], days: Iterable[str]
) -> pd.DataFrame:
    for name, t in zip(names, types, strict=True):
        if t is Boolean:
            frame[name] = frame[name].astype(bool)
    for name in days:
        frame[name] = frame[name].astype(np.int64)
    return frame


#: Column types :func:`_sqlite_columns` reads (REAL would lose digits as text: not read so).
_CONCAT_TYPES = (Integer, Boolean, String)
#: Stands for NULL in an integer column read as text (no real id, count or day is this).
_NULL_INT = -4_611_686_018_427_387_903
#: Separates, and stands for NULL in, a text column read as one string (enum values and
#: names never hold these control characters; a value that does is read row by row).
_SEP, _NULL_TEXT = "\x1f", "\x1e"


def _sqlite_columns(
    cursor: Any, sql: str, names: list[str], types: list[Any]
) -> pd.DataFrame | None:
    """The rows of ``sql`` read column by column: SQLite concatenates each column into one
    string (``group_concat``, every column in the same single pass over the rows, so the
    columns stay aligned and in the statement's row order) that numpy parses in C.

    Millions of rows: one Python object per column instead of one per value, and no
    object-to-int64 conversion. Gives exactly the frame the row-by-row read gives (integer
    columns with a NULL become float64 with NaN, text columns with a NULL hold None);
    ``None`` when it cannot (no rows, a text value holding a separator, a result longer than
    SQLite's string limit): the caller reads row by row.
    """
    aggregates = []
    for i, t in enumerate(types):
        col = f"_c{i}"
        if t is String:
            aggregates.append(
                f"group_concat(ifnull({col}, char(30)), char(31)),"
                f" sum(instr({col}, char(31)) > 0 OR instr({col}, char(30)) > 0)"
            )
        else:
            aggregates.append(f"group_concat(ifnull({col}, {_NULL_INT}), ','), NULL")
    inner = ", ".join(f"_c{i}" for i in range(len(names)))
    wrapped = f"WITH _q({inner}) AS ({sql}) SELECT count(*), {', '.join(aggregates)} FROM _q"
    try:
        cursor.execute(wrapped)
        row = cursor.fetchone()
    except sqlite3.Error:  # e.g. a result longer than SQLite's string limit
        return None
    n = int(row[0])
    if n == 0:
        return None
    data: dict[str, Any] = {}
    for i, (name, t) in enumerate(zip(names, types, strict=True)):
        text, clashes = row[1 + 2 * i], row[2 + 2 * i]
        if t is String:
            if clashes:
                return None
            values: list[Any] = text.split(_SEP)
            if _NULL_TEXT in text:
                values = [None if v == _NULL_TEXT else v for v in values]
            data[name] = values
        else:
            with warnings.catch_warnings():  # a value that is not an integer: short read
                warnings.simplefilter("ignore", DeprecationWarning)
                ints = np.fromstring(text, dtype=np.int64, sep=",")
            if len(ints) != n:
                return None
            null = ints == _NULL_INT
            if null.all():
                data[name] = [None] * n
            elif null.any():
                floats = ints.astype(np.float64)
                floats[null] = np.nan
                data[name] = floats
            else:
                data[name] = ints
    frame = pd.DataFrame(data, columns=names)
    return frame if len(frame) == n else None


#: dtype of an empty column by the SQL type's affinity (what a non-empty read would give).
_EMPTY_DTYPES: dict[Any, Any] = {
    Integer: np.int64,
    Float: np.float64,
    Numeric: np.float64,
    Boolean: bool,
}


def _cents(column: Any) -> Any:
    """Read a Money column as raw integer cents (skips per-row Decimal conversion)."""
    return type_coerce(column, BigInteger)


def _text(column: Any) -> Any:
    """Read an enum column as its stored string (skips per-row enum conversion)."""
    return type_coerce(column, String())


def _naive(column: Any) -> Any:
    """Read a UTC timestamp column as a naive datetime (stored naive-UTC)."""
    return type_coerce(column, DateTime())


def _day(conn: Connection, column: Any, name: str) -> ColumnElement[int]:
    """The day number of a date or (naive UTC) timestamp column, computed by the database.

    The calendar day (UTC) of each value, without parsing one date object per value in
    Python (most of the load time on a large database). SQLite stores
    both as ISO text (``YYYY-MM-DD[ HH:MM:SS...]``): the calendar day is its first ten
    characters. NULL becomes :data:`NEVER`.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # julianday('YYYY-MM-DD') is an exact n + 0.5 and 2440587.5 is 1970-01-01: exact.
        days: Any = cast(func.julianday(func.substr(column, 1, 10)) - 2440587.5, BigInteger)
    elif dialect == "postgresql":
        days = type_coerce(cast(column, Date) - literal(date(1970, 1, 1), Date), BigInteger)
    else:
        raise FeatureDataError(f"features read SQLite or PostgreSQL, not {dialect}")
    return func.coalesce(days, literal(int(NEVER), BigInteger)).label(name)


#: From this many ids on, ``_in`` passes them as one array literal instead of one literal
#: per id (compiling 100k literals costs seconds; the database reads an array at C speed).
_ARRAY_IN = 1_000


class _InArray(ColumnElement[bool]):
    """``column IN (the ids of one array literal)``: SQLite ``json_each``, PostgreSQL
    ``unnest`` of a ``BIGINT[]``."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, column: Any, ids: list[int]) -> None:
        self.column = column
        self.ids = ids


@compiles(_InArray, "sqlite")
def _in_array_sqlite(element: _InArray, compiler: Any, **kw: Any) -> str:
    text = ",".join(map(str, element.ids))
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each('[{text}]'))"


@compiles(_InArray)
def _in_array_default(element: _InArray, compiler: Any, **kw: Any) -> str:
    text = ",".join(map(str, element.ids))
    column = compiler.process(element.column, **kw)
    return f"{column} IN (SELECT unnest(CAST('{{{text}}}' AS BIGINT[])))"


def _in(column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """``column IN ids`` (sorted Python ints; an empty list matches nothing)."""
    wanted = sorted({int(i) for i in ids})
    if len(wanted) >= _ARRAY_IN:
        return _InArray(column, wanted)
    return column.in_(wanted)  # type: ignore[no-any-return]


#: Re-scoring this many backorders or more reads every fact (a scoped read saves little).
SCOPED_LOAD_LIMIT = 2_000


@dataclass(frozen=True)
class _Scope:
    """The customer-side facts some backorders' features read: every order of their
    customers (customer history, churn) and the orders of every line at their SKU-locations
    (supply and demand) or waiting on their PO lines (queue position)."""

    customers: list[int]
    orders: list[int]
    #: The PO lines whose facts are read: every line of the suppliers and products of the
    #: backorders' PO lines and SKUs (supplier histories, inbound supply), and every line with
    #: an outcome that may fall in the market-wide windows ending at the as-of day (promised,
    #: received or re-dated within :data:`_MARKET_DAYS`), each with all its receipts and ETAs;
    #: ``None``: every line (when that is most of them).
    po_lines: list[int] | None


#: Days before the as-of day whose PO line outcomes a scoped read includes for the
#: market-wide rates (their windows are 30 days; the rest is margin).
_MARKET_DAYS = 32


def _po_lines_of(conn: Connection, seed: pd.DataFrame, as_of_day: int) -> list[int] | None:
    """:attr:`_Scope.po_lines` (see there) for the backorders of ``seed``."""
    linked = sorted({int(p) for p in seed["po_line_id"].dropna().tolist()})
    products = sorted({int(p) for p in seed["product_id"].tolist()})
    suppliers = (
        select(PurchaseOrder.supplier_id)
        .join(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
        .where(_in(PurchaseOrderLine.id, linked))
    )
    # Outcomes dated after the as-of day count nowhere: a line promised later, with no receipt
    # or ETA by then, has no outcome in the windows.
    since_day, until_day = day_to_timestamp(np.array([as_of_day - _MARKET_DAYS, as_of_day + 1]))
    since, until = since_day.date(), until_day.date()
    found: set[int] = set(linked)
    for stmt in (
        select(PurchaseOrderLine.id)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(PurchaseOrder.supplier_id.in_(suppliers)),
        select(PurchaseOrderLine.id).where(_in(PurchaseOrderLine.product_id, products)),
        select(PurchaseOrderLine.id).where(
            PurchaseOrderLine.promised_date >= since, PurchaseOrderLine.promised_date <= until
        ),
        select(Receipt.po_line_id).where(
            Receipt.received_on >= since, Receipt.received_on <= until
        ),
        select(EtaChange.po_line_id).where(
            _naive(EtaChange.recorded_at) >= since_day.to_pydatetime(),
            _naive(EtaChange.recorded_at) < (until_day + pd.Timedelta(days=1)).to_pydatetime(),
        ),
    ):
        found.update(conn.execute(stmt).scalars().all())
    everything = conn.execute(select(func.count()).select_from(PurchaseOrderLine)).scalar() or 0
    if len(found) * 2 > everything:  # most lines anyway: one read of everything is cheaper
        return None
    return sorted(found)


def _scope_of(conn: Connection, backorder_ids: Collection[int], as_of_day: int) -> _Scope:
    seed = read_frame(
        conn,
        select(
            CustomerOrder.customer_id,
            CustomerOrderLine.product_id,
            CustomerOrder.location_id,
            Backorder.po_line_id,
        )
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .where(_in(Backorder.id, backorder_ids)),
    )
    skus = set(zip(seed["product_id"].tolist(), seed["location_id"].tolist(), strict=True))
    at_skus = read_frame(
        conn,
        select(CustomerOrderLine.order_id, CustomerOrderLine.product_id, CustomerOrder.location_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .where(_in(CustomerOrderLine.product_id, {p for p, _ in skus})),
    )
    keys = zip(at_skus["product_id"].tolist(), at_skus["location_id"].tolist(), strict=True)
    orders = {o for o, k in zip(at_skus["order_id"].tolist(), keys, strict=True) if k in skus}
    po_lines = {int(p) for p in seed["po_line_id"].dropna().tolist()}
    queued = conn.execute(
        select(CustomerOrderLine.order_id)
        .join(Backorder, Backorder.order_line_id == CustomerOrderLine.id)
        .where(_in(Backorder.po_line_id, po_lines))
    ).scalars()
    orders.update(queued)
    return _Scope(
        customers=sorted({int(c) for c in seed["customer_id"].tolist()}),
        orders=sorted(int(o) for o in orders),
        po_lines=_po_lines_of(conn, seed, as_of_day),
    )


def _end_day(conn: Connection) -> int | None:
    """:attr:`Tables.data_end` of the whole database, from the maxima (indexes where any)."""
    columns = (
        CustomerOrder.ordered_on,
        PurchaseOrder.ordered_on,
        Receipt.received_on,
        Shipment.shipped_on,
        EtaChange.recorded_at,
        BackorderStatusChange.changed_at,
        Backorder.created_at,
    )
    ends = [conn.execute(select(func.max(c))).scalar() for c in columns]
    found = [to_day(e) for e in ends if e is not None]
    return max(found) if found else None


def load_tables(
    source: Engine | Connection,
    *,
    backorders: Collection[int] | None = None,
    truths: bool = True,
    as_of_day: int | None = None,
    active_history: bool = False,
) -> Tables:
    """Read every table the features need, in one read-only pass.

    Parameters
    ----------
    source
        An engine (a connection is opened and closed) or an open connection (the caller's
        transaction is used, so uncommitted changes are seen).
    backorders
        Read only the facts the features of these backorders need (re-scoring a few after
        an event costs in proportion): every order of their customers, the orders with a
        line at their SKU-locations or waiting on their PO lines, and those orders' lines,
        shipments, backorders and status history; the PO lines of :attr:`_Scope.po_lines`
        (their suppliers' and products' lines, and the lines whose outcome may enter the
        market-wide rates at ``as_of_day``) with their orders, receipts and ETA history;
        customers, contracts, suppliers and substitutes in full. Scoring frames built from
        such tables at ``as_of_day`` give those backorders' subjects exactly the features of
        a full read (``subjects=`` of the builders); other rows they may hold are incomplete.
        ``None``: everything. From :data:`SCOPED_LOAD_LIMIT` backorders on, everything is
        read.
    truths
        Also read ``sim_truths`` (training frames attach them as the oracle). Scoring does
        not need them.
    as_of_day
        With ``backorders``: the day the frames will be built at (day number; default: the
        latest day with data), which bounds the market-wide facts read.
    active_history
        Read the status history only of the backorders on an order line that has an active
        backorder now, and every cancellation: all that the SLA-breach scoring frame of the
        active backorders' order lines reads (``subjects=``), a fraction of the history.
        Frames of other order lines built from such tables are incomplete.

    Returns
    -------
    Tables
        The facts as pandas frames (see :class:`Tables`).
    """
    if isinstance(source, Engine):
        with source.connect() as conn:
            return load_tables(
                conn,
                backorders=backorders,
                truths=truths,
                as_of_day=as_of_day,
                active_history=active_history,
            )
    conn = source
    scope = None
    end_day = _end_day(conn) if active_history else None
    if backorders is not None and len(backorders) < SCOPED_LOAD_LIMIT:
        end_day = end_day if end_day is not None else _end_day(conn)
        day = as_of_day if as_of_day is not None else end_day
        scope = _scope_of(conn, backorders, day if day is not None else 0)
    sup = read_frame(conn, select(Supplier.id, Supplier.region))
    cust = read_frame(
        conn,
        select(
            Customer.id,
            _text(Customer.tier).label("tier"),
            _day(conn, Customer.created_on, "created_day"),
            _day(conn, Customer.churned_on, "churned_day"),
        ),
        days=("created_day", "churned_day"),
    )
    con = read_frame(
        conn,
        select(
            Contract.customer_id,
            Contract.version,
            Contract.sla_days,
            Contract.penalty_rate_per_day,
            Contract.allows_partial_ship,
            _day(conn, Contract.effective_from, "from_day"),
            _day(conn, Contract.renewal_date, "renewal_day"),
        ),
        days=("from_day", "renewal_day"),
    )
    subs = read_frame(conn, select(ProductSubstitute.product_id, ProductSubstitute.substitute_id))
    po_stmt = select(
        PurchaseOrder.id,
        PurchaseOrder.supplier_id,
        PurchaseOrder.location_id,
        _text(PurchaseOrder.ship_mode).label("ship_mode"),
        _day(conn, PurchaseOrder.ordered_on, "ordered_day"),
    )
    pol_stmt = select(
        PurchaseOrderLine.id,
        PurchaseOrderLine.purchase_order_id,
        PurchaseOrderLine.product_id,
        PurchaseOrderLine.quantity,
        _cents(PurchaseOrderLine.unit_cost).label("unit_cost_cents"),
        _text(PurchaseOrderLine.status).label("status"),
        _day(conn, PurchaseOrderLine.promised_date, "promised_day"),
    )
    eta_stmt = select(
        EtaChange.id,
        EtaChange.po_line_id,
        _day(conn, EtaChange.recorded_at, "recorded_day"),
        _day(conn, EtaChange.previous_eta, "previous_day"),
        _day(conn, EtaChange.new_eta, "new_day"),
    )
    rec_stmt = select(
        Receipt.po_line_id,
        Receipt.quantity,
        _day(conn, Receipt.received_on, "received_day"),
    )
    if scope is not None and scope.po_lines is not None:
        pol_stmt = pol_stmt.where(_in(PurchaseOrderLine.id, scope.po_lines))
        po_stmt = po_stmt.where(
            PurchaseOrder.id.in_(
                select(PurchaseOrderLine.purchase_order_id).where(
                    _in(PurchaseOrderLine.id, scope.po_lines)
                )
            )
        )
        eta_stmt = eta_stmt.where(_in(EtaChange.po_line_id, scope.po_lines))
        rec_stmt = rec_stmt.where(_in(Receipt.po_line_id, scope.po_lines))
    po = read_frame(conn, po_stmt, days=("ordered_day",))
    pol = read_frame(conn, pol_stmt, days=("promised_day",))
    pol["unit_cost_usd"] = pol.pop("unit_cost_cents").astype(np.float64) / 100.0
    eta = read_frame(conn, eta_stmt, days=("recorded_day", "previous_day", "new_day"))
    rec = read_frame(conn, rec_stmt, days=("received_day",))
    order_filter: ColumnElement[bool] | None = None
    if scope is not None:
        order_filter = _in(CustomerOrder.customer_id, scope.customers) | _in(
            CustomerOrder.id, scope.orders
        )
    orders_stmt = select(
        CustomerOrder.id,
        CustomerOrder.customer_id,
        CustomerOrder.location_id,
        CustomerOrder.is_emergency,
        _day(conn, CustomerOrder.ordered_on, "ordered_day"),
        _day(conn, CustomerOrder.promised_date, "promised_day"),
    )
    lines_stmt = select(
        CustomerOrderLine.id,
        CustomerOrderLine.order_id,
        CustomerOrderLine.product_id,
        CustomerOrderLine.quantity,
        _cents(CustomerOrderLine.unit_price).label("unit_price_cents"),
    )
    ship_stmt = select(
        Shipment.order_line_id,
        Shipment.quantity,
        _day(conn, Shipment.shipped_on, "shipped_day"),
    )
    bos_stmt = select(
        Backorder.id,
        Backorder.order_line_id,
        Backorder.po_line_id,
        Backorder.quantity.label("backorder_quantity"),
        _day(conn, _naive(Backorder.created_at), "created_day"),
    )
    hist_stmt = select(
        BackorderStatusChange.id,
        BackorderStatusChange.backorder_id,
        _text(BackorderStatusChange.to_status).label("to_status"),
        _day(conn, _naive(BackorderStatusChange.changed_at), "changed_day"),
    )
    if active_history and scope is None:  # (a scoped read is narrower still)
        active_lines = select(Backorder.order_line_id).where(
            Backorder.status.in_([status.value for status in ACTIVE_BACKORDER_STATUSES])
        )
        hist_stmt = hist_stmt.where(
            (BackorderStatusChange.to_status == BackorderStatus.CANCELLED.value)
            | BackorderStatusChange.backorder_id.in_(
                select(Backorder.id).where(Backorder.order_line_id.in_(active_lines))
            )
        )
    if order_filter is not None:
        in_orders = select(CustomerOrder.id).where(order_filter)
        in_lines = select(CustomerOrderLine.id).where(CustomerOrderLine.order_id.in_(in_orders))
        orders_stmt = orders_stmt.where(order_filter)
        lines_stmt = lines_stmt.where(CustomerOrderLine.order_id.in_(in_orders))
        ship_stmt = ship_stmt.where(Shipment.order_line_id.in_(in_lines))
        bos_stmt = bos_stmt.where(Backorder.order_line_id.in_(in_lines))
        hist_stmt = hist_stmt.where(
            BackorderStatusChange.backorder_id.in_(
                select(Backorder.id).where(Backorder.order_line_id.in_(in_lines))
            )
        )
    orders = read_frame(conn, orders_stmt, days=("ordered_day", "promised_day"))
    lines = read_frame(conn, lines_stmt)
    lines["unit_price_usd"] = lines.pop("unit_price_cents").astype(np.float64) / 100.0
    ship = read_frame(conn, ship_stmt, days=("shipped_day",))
    bos = read_frame(conn, bos_stmt, days=("created_day",))
    hist = read_frame(conn, hist_stmt, days=("changed_day",))
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
        truths=load_truths(conn) if truths else None,
        end_day=end_day,
    )
