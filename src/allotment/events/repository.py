"""SQL for event ingestion: the idempotency log, natural-key look-ups, the re-score queue.

Keyword-only, typed; never commits (the caller does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from allotment.domain import repository as domain_repo
from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import (
    Backorder,
    Customer,
    CustomerOrder,
    EtaChange,
    IngestedEvent,
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Recommendation,
    RescoreQueue,
)
from allotment.events.errors import EventReferenceError

_CHUNK = 500  # ids per IN (...) list


def find_events(*, session: Session, event_ids: Sequence[str]) -> dict[str, IngestedEvent]:
    """The recorded events among ``event_ids``, by id."""
    found: dict[str, IngestedEvent] = {}
    ids = list(dict.fromkeys(event_ids))
    for i in range(0, len(ids), _CHUNK):
        for row in session.scalars(
            select(IngestedEvent).where(IngestedEvent.event_id.in_(ids[i : i + _CHUNK]))
        ):
            found[row.event_id] = row
    return found


def _insert_for(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def claim_events(*, session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert new event rows, skipping ids already recorded; returns event id -> row id of the
    rows this call inserted."""
    if not rows:
        return {}
    table = cast(Table, IngestedEvent.__table__)
    # One statement compiled once; SQLAlchemy's "insertmanyvalues" sends the rows as
    # multi-row VALUES pages (a VALUES list built per call compiles every bound value).
    stmt = (
        _insert_for(session)(table)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(table.c.event_id, table.c.id)
    )
    return {e: int(r) for e, r in session.execute(stmt, list(rows)).all()}


def record_outcomes(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Set each claimed event's status, subject, result and error (``e_id`` = row id)."""
    if not rows:
        return
    table = cast(Table, IngestedEvent.__table__)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("e_id"))
        .values(
            status=bindparam("status"),
            subject=bindparam("subject"),
            result=bindparam("result"),
            error=bindparam("error"),
        )
    )
    session.connection().execute(stmt, list(rows))


def get_event(*, session: Session, event_id: str) -> IngestedEvent | None:
    return session.scalars(
        select(IngestedEvent).where(IngestedEvent.event_id == event_id)
    ).one_or_none()


def list_events(
    *, session: Session, status: str | None = None, limit: int = 100
) -> Sequence[IngestedEvent]:
    """Most recently received first."""
    stmt = select(IngestedEvent).order_by(IngestedEvent.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(IngestedEvent.status == status)
    return session.scalars(stmt).all()


def eta_learned_at(*, session: Session, po_line_id: int) -> datetime | None:
    """When the ETA in force on a PO line was learned (None: it never changed)."""
    learned: datetime | None = _memo(
        session,
        ("eta", po_line_id),
        lambda: session.scalar(
            select(func.max(EtaChange.recorded_at)).where(EtaChange.po_line_id == po_line_id)
        ),
    )
    return learned


def eta_learned(*, session: Session, po_line_id: int, at: datetime) -> None:
    """Note that the ETA in force on a PO line was learned at ``at`` (an ETA event applied)."""
    memo: dict[tuple[Any, ...], Any] | None = session.info.get(LOOKUPS)
    if memo is not None:
        memo[("eta", po_line_id)] = at


def forget_etas(*, session: Session) -> None:
    """Drop the noted ETA times (a savepoint rolled back: the database knows again)."""
    memo: dict[tuple[Any, ...], Any] | None = session.info.get(LOOKUPS)
    if memo is not None:
        for key in [k for k in memo if k[0] == "eta"]:
            del memo[key]


def preload(
    *,
    session: Session,
    po_refs: Sequence[tuple[str, int]],
    customer_codes: Sequence[str],
    location_codes: Sequence[str],
    skus: Sequence[str],
) -> None:
    """Look up a batch's references set-wise, ahead of its events: PO lines (locked, with
    their PO and when their ETA was learned), customers, locations, products. A reference to
    nothing is left to the event's own look-up (which parks it). Call outside any savepoint (a
    rolled-back savepoint would release the locks)."""
    memo: dict[tuple[Any, ...], Any] | None = session.info.get(LOOKUPS)
    if memo is None:
        return
    refs = sorted(set(po_refs))
    line_ids: list[int] = []
    for i in range(0, len(refs), _CHUNK):
        for line, po in session.execute(
            select(PurchaseOrderLine, PurchaseOrder)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .where(
                tuple_(PurchaseOrder.number, PurchaseOrderLine.line_no).in_(refs[i : i + _CHUNK])
            )
            .order_by(PurchaseOrderLine.id)
            .with_for_update(of=PurchaseOrderLine)
        ):
            memo[("po_line", po.number, line.line_no)] = line
            line_ids.append(line.id)
    # Locked for the transaction, in id order: the effects need not lock them one by one.
    session.info.setdefault(domain_repo.LOCKED_PO_LINES, set()).update(line_ids)
    for i in range(0, len(line_ids), _CHUNK):
        chunk = line_ids[i : i + _CHUNK]
        rows = session.execute(
            select(EtaChange.po_line_id, func.max(EtaChange.recorded_at))
            .where(EtaChange.po_line_id.in_(chunk))
            .group_by(EtaChange.po_line_id)
        ).all()
        learned: dict[int, datetime] = {int(r[0]): r[1] for r in rows}
        for line_id in chunk:
            memo[("eta", line_id)] = learned.get(line_id)
    for kind, model, column, values in (
        ("customer", Customer, Customer.code, customer_codes),
        ("location", Location, Location.code, location_codes),
        ("product", Product, Product.sku, skus),
    ):
        wanted = sorted(set(values))
        for i in range(0, len(wanted), _CHUNK):
            for row in session.scalars(select(model).where(column.in_(wanted[i : i + _CHUNK]))):
                memo[(kind, getattr(row, column.key))] = row


def later_eta_event_at(
    *, session: Session, subject: str, occurred_at: datetime, event_id: str
) -> bool:
    """Whether an ETA event for ``subject`` at the same instant with a later id was applied
    (the tie-break that makes equal timestamps order-independent)."""
    return (
        session.scalar(
            select(IngestedEvent.id)
            .where(
                IngestedEvent.subject == subject,
                IngestedEvent.occurred_at == occurred_at,
                IngestedEvent.status == "applied",
                IngestedEvent.event_id > event_id,
            )
            .limit(1)
        )
        is not None
    )


#: ``session.info`` key of the reference look-ups of the batch being ingested.
LOOKUPS = "allotment.events.lookups"


def _memo(session: Session, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    """Look a reference up once per batch (PO lines, customers, places, products do not come
    and go with events; orders do, and are never memoized)."""
    memo: dict[tuple[Any, ...], Any] | None = session.info.get(LOOKUPS)
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def po_line_by_ref(*, session: Session, po_number: str, line_no: int) -> PurchaseOrderLine:
    line: PurchaseOrderLine = _memo(
        session,
        ("po_line", po_number, line_no),
        lambda: _po_line_by_ref(session=session, po_number=po_number, line_no=line_no),
    )
    return line


def _po_line_by_ref(*, session: Session, po_number: str, line_no: int) -> PurchaseOrderLine:
    line = session.scalars(
        select(PurchaseOrderLine)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(PurchaseOrder.number == po_number, PurchaseOrderLine.line_no == line_no)
    ).one_or_none()
    if line is None:
        raise EventReferenceError(
            f"purchase order {po_number} has no line {line_no}", field="po_number"
        )
    return line


def customer_by_code(*, session: Session, code: str) -> Customer:
    found: Customer | None = _memo(
        session,
        ("customer", code),
        lambda: session.scalars(select(Customer).where(Customer.code == code)).one_or_none(),
    )
    if found is None:
        raise EventReferenceError(f"customer {code} does not exist", field="customer_code")
    return found


def location_by_code(*, session: Session, code: str) -> Location:
    found: Location | None = _memo(
        session,
        ("location", code),
        lambda: session.scalars(select(Location).where(Location.code == code)).one_or_none(),
    )
    if found is None:
        raise EventReferenceError(f"location {code} does not exist", field="location_code")
    return found


def products_by_sku(*, session: Session, skus: Sequence[str]) -> dict[str, Product]:
    found: dict[str, Product] = {}
    for sku in dict.fromkeys(skus):
        product: Product | None = _memo(
            session,
            ("product", sku),
            lambda sku=sku: session.scalars(
                select(Product).where(Product.sku == sku)
            ).one_or_none(),  # type: ignore[misc]
        )
        if product is not None:
            found[sku] = product
    missing = sorted(set(skus) - set(found))
    if missing:
        raise EventReferenceError(f"product {', '.join(missing)} does not exist", field="sku")
    return found


def order_by_number(*, session: Session, number: str) -> CustomerOrder:
    found = session.scalars(
        select(CustomerOrder).where(CustomerOrder.number == number).with_for_update()
    ).one_or_none()
    if found is None:
        raise EventReferenceError(f"order {number} does not exist", field="order_number")
    return found


def enqueue_rescore(*, session: Session, backorder_ids: Sequence[int], at: datetime) -> None:
    """Queue backorders for re-scoring (a queued one gets the later time)."""
    ids = sorted(set(backorder_ids))
    if not ids:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for i in range(0, len(ids), _CHUNK):
        stmt = insert(RescoreQueue)
        stmt = stmt.on_conflict_do_update(
            index_elements=["backorder_id"], set_={"queued_at": stmt.excluded.queued_at}
        )
        session.execute(stmt, [{"backorder_id": b, "queued_at": at} for b in ids[i : i + _CHUNK]])


def queued(*, session: Session, limit: int) -> list[tuple[int, datetime]]:
    """(backorder id, queued at) of the oldest queued backorders."""
    rows = session.execute(
        select(RescoreQueue.backorder_id, RescoreQueue.queued_at)
        .order_by(RescoreQueue.queued_at, RescoreQueue.backorder_id)
        .limit(limit)
    ).all()
    return [(int(b), at) for b, at in rows]


def dequeue(*, session: Session, rows: Sequence[tuple[int, datetime]]) -> None:
    """Remove the rows drained, unless an event queued the backorder again since."""
    for i in range(0, len(rows), _CHUNK):
        session.execute(
            delete(RescoreQueue).where(
                tuple_(RescoreQueue.backorder_id, RescoreQueue.queued_at).in_(
                    list(rows[i : i + _CHUNK])
                )
            )
        )


def queue_length(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(RescoreQueue)) or 0)


def active_ids(*, session: Session, backorder_ids: Sequence[int]) -> list[int]:
    """The ids among ``backorder_ids`` that are still active (worth scoring)."""
    out: list[int] = []
    ids = list(backorder_ids)
    for i in range(0, len(ids), _CHUNK):
        out.extend(
            session.scalars(
                select(Backorder.id).where(
                    Backorder.id.in_(ids[i : i + _CHUNK]), Backorder.status.in_(ACTIVE_STATUSES)
                )
            )
        )
    return sorted(out)


def with_proposed_recommendations(*, session: Session, backorder_ids: Sequence[int]) -> list[int]:
    """The ids among ``backorder_ids`` that have live ``proposed`` recommendations."""
    out: set[int] = set()
    ids = list(backorder_ids)
    for i in range(0, len(ids), _CHUNK):
        out.update(
            session.scalars(
                select(Recommendation.backorder_id).where(
                    Recommendation.backorder_id.in_(ids[i : i + _CHUNK]),
                    Recommendation.status == "proposed",
                )
            )
        )
    return sorted(out)
