"""SQL for scoring: open backorders with what they put at stake, runs and snapshots.

Keyword-only, typed; never commits (the caller does). Bulk paths return columns (pandas) and
write with executemany, never one ORM object per backorder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    BindParameter,
    String,
    Subquery,
    func,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from allotment.domain.models import (
    ACTIVE_BACKORDER_STATUSES,
    Backorder,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    Product,
    PurchaseOrderLine,
    ScoreRun,
    ScoreSnapshot,
)
from allotment.features.tables import read_frame

#: Open backorder columns returned by :func:`open_backorders` (money in USD, float).
BACKORDER_COLUMNS = (
    "backorder_id",
    "number",
    "order_line_id",
    "po_line_id",
    "po_line_status",
    "customer_id",
    "customer_name",
    "tier",
    "lifetime_value",
    "is_emergency",
    "open_quantity",
    "unit_price",
    "unit_cost",
    "created_at",
)
_CHUNK = 5000  # ids per IN (...) list: well under every backend's parameter limit


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


def open_backorders(*, session: Session, ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Active backorders (open, eta_updated, partially_resolved, escalated) and their facts.

    Parameters
    ----------
    session
        The unit of work.
    ids
        Only these backorders (those that are not active are left out); ``None``: all.

    Returns
    -------
    pandas.DataFrame
        :data:`BACKORDER_COLUMNS`, one row per backorder, sorted by id.
    """
    stmt = (
        select(
            Backorder.id.label("backorder_id"),
            Backorder.number,
            Backorder.order_line_id,
            Backorder.po_line_id,
            type_coerce(PurchaseOrderLine.status, String()).label("po_line_status"),
            Customer.id.label("customer_id"),
            Customer.name.label("customer_name"),
            type_coerce(Customer.tier, String()).label("tier"),
            type_coerce(Customer.lifetime_value, BigInteger).label("lifetime_value"),
            CustomerOrder.is_emergency,
            Backorder.open_quantity,
            type_coerce(CustomerOrderLine.unit_price, BigInteger).label("unit_price"),
            type_coerce(Product.unit_cost, BigInteger).label("unit_cost"),
            # as stored (SQLite: ISO text; PostgreSQL: a naive UTC datetime), parsed below
            type_coerce(Backorder.created_at, String()).label("created_at"),
        )
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .join(Product, Product.id == CustomerOrderLine.product_id)
        .outerjoin(PurchaseOrderLine, PurchaseOrderLine.id == Backorder.po_line_id)
        .where(Backorder.status.in_([s.value for s in ACTIVE_BACKORDER_STATUSES]))
        .order_by(Backorder.id)
    )
    # The driver's rows, read as facts are (no per-value result processing: 100k rows).
    conn = session.connection()
    if ids is None:
        parts = [read_frame(conn, stmt)]
    else:
        wanted = sorted(set(int(i) for i in ids))
        parts = [read_frame(conn, stmt.where(Backorder.id.in_(c))) for c in _chunks(wanted)]
    parts = [p for p in parts if len(p)]
    if parts:
        df = pd.concat(parts, ignore_index=True)[list(BACKORDER_COLUMNS)]
    else:
        df = pd.DataFrame(columns=list(BACKORDER_COLUMNS))
    # Money is read as raw integer cents (no Decimal per value): convert to USD floats.
    for col in ("lifetime_value", "unit_price", "unit_cost"):
        df[col] = df[col].astype(np.float64) / 100.0
    df["is_emergency"] = df["is_emergency"].astype(bool)
    # Stored naive UTC: the calendar day is the UTC day.
    df["created_at"] = pd.to_datetime(df["created_at"], format="ISO8601")
    df["po_line_id"] = df["po_line_id"].astype("Int64")
    return df.sort_values("backorder_id", kind="stable").reset_index(drop=True)


def customer_open_value(*, session: Session, customer_ids: Sequence[int]) -> dict[int, float]:
    """Value at risk (USD) of each customer's active backorders: open quantity × unit price."""
    out: dict[int, float] = {}
    # Money is stored as integer cents: sum cents x units in SQL, exact, then convert.
    value = Backorder.open_quantity * type_coerce(CustomerOrderLine.unit_price, BigInteger)
    for chunk in _chunks(sorted(set(int(c) for c in customer_ids))):
        stmt = (
            select(CustomerOrder.customer_id, func.sum(value))
            .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
            .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
            .where(
                Backorder.status.in_(ACTIVE_BACKORDER_STATUSES),
                CustomerOrder.customer_id.in_(chunk),
            )
            .group_by(CustomerOrder.customer_id)
        )
        for customer_id, total in session.execute(stmt).all():
            out[int(customer_id)] = int(total or 0) / 100.0  # USD
    return out


def contracts_at(*, session: Session, customer_ids: Sequence[int], on: date) -> pd.DataFrame:
    """The contract in force on ``on`` per customer (latest ``effective_from`` on or before it;
    before the first version, the first version).

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id``; columns ``contract_version``, ``penalty_rate_per_day``,
        ``penalty_cap_rate`` (shares of the line's value).
    """
    rows: list[tuple[int, int, date, float, float]] = []
    for chunk in _chunks(sorted(set(int(c) for c in customer_ids))):
        stmt = select(
            Contract.customer_id,
            Contract.version,
            Contract.effective_from,
            Contract.penalty_rate_per_day,
            Contract.penalty_cap_rate,
        ).where(Contract.customer_id.in_(chunk))
        rows.extend(tuple(r) for r in session.execute(stmt).all())  # type: ignore[misc]
    df = pd.DataFrame(
        rows,
        columns=[
            "customer_id",
            "contract_version",
            "effective_from",
            "penalty_rate_per_day",
            "penalty_cap_rate",
        ],
    )
    if df.empty:
        return df.set_index("customer_id")
    df["in_force"] = df["effective_from"] <= on
    # In force ones first (latest version wins), then the first version as the fallback.
    df["rank_key"] = np.where(df["in_force"], df["contract_version"], -df["contract_version"])
    df = df.sort_values(["customer_id", "in_force", "rank_key"], kind="stable")
    chosen = df.groupby("customer_id").tail(1).set_index("customer_id")
    return chosen[["contract_version", "penalty_rate_per_day", "penalty_cap_rate"]]


def create_run(
    *,
    session: Session,
    trigger: str,
    policy_version_id: int,
    model_versions: dict[str, Any],
    started_at: datetime,
) -> ScoreRun:
    run = ScoreRun(
        trigger=trigger,
        policy_version_id=policy_version_id,
        model_versions=model_versions,
        started_at=started_at,
        scored=0,
        degraded=0,
    )
    session.add(run)
    session.flush()
    return run


#: Columns of a ``score_snapshots`` row, in the order :func:`insert_snapshots` takes them.
SNAPSHOT_COLUMNS = (
    "run_id",
    "backorder_id",
    "scored_at",
    "policy_version_id",
    "model_versions",
    "p_supplier_delay",
    "p_sla_breach",
    "p_churn",
    "components",
    "priority",
    "degraded",
    "flags",
    "feature_digests",
    "inputs",
)
#: The JSON columns among them: passed as JSON text.
SNAPSHOT_JSON_COLUMNS = frozenset(
    {"model_versions", "components", "flags", "feature_digests", "inputs"}
)


def db_timestamp(session: Session, value: datetime) -> Any:
    """``value`` (aware) as the driver stores a UTC timestamp column, for :func:`insert_snapshots`.

    SQLAlchemy keeps SQLite timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` text and PostgreSQL
    ones as ``timestamp without time zone``; both naive UTC (see ``UTCDateTime``).
    """
    naive = value.astimezone(UTC).replace(tzinfo=None)
    if session.get_bind().dialect.name == "sqlite":
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f")
    return naive


def insert_snapshots(*, session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write snapshot rows in bulk: PostgreSQL ``COPY`` (psycopg), else the driver's
    executemany - no ORM object, no per-value type processing.

    Each row is a tuple in :data:`SNAPSHOT_COLUMNS` order, JSON columns as JSON text and
    ``scored_at`` from :func:`db_timestamp`. At 100k rows, SQLAlchemy's per-value processing
    (JSON, UTC timestamps) costs more than the database's insert; the service builds the
    values once instead.
    """
    if not rows:
        return
    conn = session.connection()
    columns = ", ".join(SNAPSHOT_COLUMNS)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # COPY parses the JSON text into the json columns; one round trip per buffer.
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY score_snapshots ({columns}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        return
    postgres = conn.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    values = ", ".join(
        f"CAST({mark} AS JSON)" if postgres and c in SNAPSHOT_JSON_COLUMNS else mark
        for c in SNAPSHOT_COLUMNS
    )
    sql = f"INSERT INTO score_snapshots ({columns}) VALUES ({values})"
    for i in range(0, len(rows), _CHUNK):
        conn.exec_driver_sql(sql, list(rows[i : i + _CHUNK]))


def set_priorities(*, session: Session, ids: Sequence[int], priorities: Sequence[float]) -> None:
    """Set ``backorders.priority`` of each id: on PostgreSQL one ``UPDATE ... FROM unnest``
    of two arrays per chunk, elsewhere the driver's executemany of one UPDATE."""
    if not ids:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sql = (
            "UPDATE backorders AS b SET priority = v.priority"
            " FROM unnest(CAST(%s AS BIGINT[]), CAST(%s AS DOUBLE PRECISION[]))"
            " AS v(id, priority) WHERE b.id = v.id"
        )
        step = 50_000
        for i in range(0, len(ids), step):
            conn.exec_driver_sql(sql, (list(ids[i : i + step]), list(priorities[i : i + step])))
        return
    pairs = list(zip(priorities, ids, strict=True))
    for i in range(0, len(pairs), _CHUNK):
        conn.exec_driver_sql(
            "UPDATE backorders SET priority = ? WHERE id = ?", pairs[i : i + _CHUNK]
        )


def latest_snapshot_ids(
    backorder_ids: Sequence[int] | BindParameter[Any] | None = None,
) -> Subquery:
    """Subquery ``(backorder_id, id)``: each backorder's latest score snapshot.

    The one definition of "latest score" that every reader (queue, outreach, what-if,
    allocation, recommendations) joins on; ``backorder_ids`` narrows it (ids, or an expanding
    bind parameter for a statement built once).
    """
    stmt = select(ScoreSnapshot.backorder_id, func.max(ScoreSnapshot.id).label("id")).group_by(
        ScoreSnapshot.backorder_id
    )
    if isinstance(backorder_ids, BindParameter):
        stmt = stmt.where(ScoreSnapshot.backorder_id.in_(backorder_ids))
    elif backorder_ids is not None:
        stmt = stmt.where(ScoreSnapshot.backorder_id.in_(list(backorder_ids)))
    return stmt.subquery()


def latest_snapshot(*, session: Session, backorder_id: int) -> ScoreSnapshot | None:
    return session.scalars(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.backorder_id == backorder_id)
        .order_by(ScoreSnapshot.id.desc())
        .limit(1)
    ).one_or_none()


def get_run(*, session: Session, run_id: int) -> ScoreRun | None:
    return session.get(ScoreRun, run_id)
