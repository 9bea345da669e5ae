"""A batch of events applied set-wise: read once, decide in memory, write once.

:func:`apply` loads what the batch's events refer to with one SELECT per kind of row (PO lines,
the backorders waiting on them, the order lines a delay may backorder, the orders a
cancellation names, customers and their contracts and active backorders, stock positions),
runs every event's rules in order on those rows in memory, and writes the outcome with one
executemany per kind of row. It applies the same rules as the per-event effects of
:mod:`allotment.events.effects` (which go through the domain services), in the same order, and
writes the same rows, so a database ends the same whichever path ingested a batch:

- status changes are checked by the lifecycle (:func:`allotment.domain.backorders.
  check_transition`, the state machine's own table): a forbidden one is refused;
- an event whose rule refuses it (an unknown reference, a receipt over what the line expects,
  a closed line...) raises the same error as the domain service, and its changes, made on the
  in-memory rows only, are undone from a journal: it is parked and the batch goes on, as if it
  had run in a savepoint of its own;
- new rows are written in the order the per-event path would have inserted them, so they get
  the same ids.

Anything this path does not handle ends it before it writes (it returns ``None``) and the
caller runs the per-event path; a write the database refuses is rolled back to the savepoint
the writes run in, with the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from allotment.audit import changes
from allotment.audit.changes import Change
from allotment.db.types import to_money
from allotment.domain import contracts as contract_rules
from allotment.domain import repository as domain_repo
from allotment.domain.backorders import backorder_number, check_transition
from allotment.domain.enums import (
    AllocationStatus,
    BackorderStatus,
    OrderStatus,
    PurchaseOrderStatus,
    RootCause,
    Tier,
)
from allotment.domain.errors import (
    ContractChangeError,
    InventoryAdjustmentError,
    OrderConflictError,
    PurchaseOrderLineStateError,
)
from allotment.domain.lifecycle import ACTIVE_STATUSES, TERMINAL_STATUSES
from allotment.domain.models import (
    Backorder,
    BackorderStatusChange,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    EtaChange,
    InventoryPosition,
    PurchaseOrderLine,
    Receipt,
)
from allotment.errors import AppError, BackorderCreationError
from allotment.events import batch_repository as sql
from allotment.events import repository as repo
from allotment.events.effects import Effect
from allotment.events.errors import EventReferenceError, describe, is_fatal
from allotment.events.schemas import (
    ContractChanged,
    EtaUpdated,
    GoodsReceived,
    InventoryAdjusted,
    OrderCancelled,
    OrderCreated,
    PoDelayed,
)
from allotment.notify import outbox
from allotment.notify import repository as notify_repo
from allotment.notify import rules as notify_rules
from allotment.policy.schema import NotificationRule
from allotment.policy.service import policy_in_force

log = logging.getLogger("allotment.events")

#: Ids of rows created in memory, until the write gives them their real ones: above any real
#: id, increasing in creation order (so they sort as the real ones will).
_PENDING = 1 << 62
_CLOSED_PO = (PurchaseOrderStatus.RECEIVED, PurchaseOrderStatus.CANCELLED)
_DONE_LINE = (OrderStatus.SHIPPED, OrderStatus.CANCELLED)


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


# --- the rows, in memory -----------------------------------------------------------------------


@dataclass(eq=False)
class _PoLine:
    id: int
    number: str
    line_no: int
    product_id: int
    quantity: int
    received_quantity: int
    received_on: date | None
    status: PurchaseOrderStatus
    current_eta: date | None
    promised_date: date
    location_id: int
    learned: datetime | None = None
    dirty: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Order:
    id: int
    number: str
    customer_id: int
    location_id: int
    ordered_on: date
    requested_date: date
    promised_date: date
    is_emergency: bool
    status: OrderStatus
    customer_code: str
    customer_name: str
    lines: list[_Line] | None = None  # None: not loaded (not needed)
    new: bool = False
    dirty: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Line:
    id: int
    order: _Order
    line_no: int
    product_id: int
    quantity: int
    unit_price: Decimal
    shipped_quantity: int
    po_line_id: int | None
    status: OrderStatus
    product_name: str
    sku: str
    new: bool = False
    dirty: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Backorder:
    id: int
    number: str
    order_line_id: int
    po_line_id: int | None
    waits_on: int | None  # the PO line whose receipts serve it
    quantity: int
    open_quantity: int
    root_cause: RootCause
    status: BackorderStatus
    value_at_risk: Decimal
    expected_fulfillment_date: date | None
    reason: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    closed_at: datetime | None
    customer_id: int
    order_number: str
    line_no: int
    promised_date: date
    is_emergency: bool
    customer_code: str
    customer_name: str
    product_name: str
    sku: str
    new: bool = False
    dirty: set[str] = field(default_factory=set)

    def order_context(self) -> dict[str, Any]:
        """The template fields of a customer notification (see ``outbox.order_context``)."""
        return {
            "backorder_id": self.id,
            "backorder_number": self.number,
            "order_number": self.order_number,
            "line_no": self.line_no,
            "customer_code": self.customer_code,
            "customer_name": self.customer_name,
            "product_name": self.product_name,
            "sku": self.sku,
            "quantity": self.open_quantity,
        }


@dataclass(eq=False)
class _Customer:
    id: int
    code: str
    name: str
    tier: Tier
    dirty: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Contract:
    values: dict[str, Any]
    new: bool = False
    dirty: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Position:
    id: int | None
    product_id: int
    location_id: int
    on_hand: int
    committed: int
    updated_at: datetime
    new: bool = False
    dirty: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Notice:
    """A customer ETA-change message to render once the backorder has its id."""

    backorder: _Backorder
    context: dict[str, Any]
    old: date | None
    new: date
    event_id: str
    at: datetime


@dataclass(frozen=True)
class _Created:
    """The policy's immediate ``backorder_created`` messages for a new backorder, rendered once
    it has its id and number (``tier``: the customer's tier when this batch changed it before
    the creation, else None — read from the database at the write)."""

    backorder: _Backorder
    context: dict[str, Any]
    rules: tuple[NotificationRule, ...]
    tier: Tier | None
    # As at the creation (a later event of the batch may move them before the write).
    eta: date | None
    value_at_risk: Decimal


#: The ORM classes whose rows the write changes (their collections included).
_WRITTEN = (
    Backorder,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    InventoryPosition,
    PurchaseOrderLine,
)


class _Unhandled(Exception):
    """Something this path does not model: the caller runs the per-event path instead."""


# --- the batch -------------------------------------------------------------------------------


class _Batch:
    """The rows a batch reads and writes, with a journal that undoes a failed event."""

    def __init__(self, session: Session, actor: str) -> None:
        self.session = session
        self.actor = actor
        self.po_lines: dict[tuple[str, int], _PoLine] = {}
        self.backorders: dict[int, _Backorder] = {}
        self.waiting: dict[int, list[_Backorder]] = {}  # PO line id -> backorders
        self.of_line: dict[int, list[_Backorder]] = {}  # order line id -> backorders
        self.of_customer: dict[int, list[_Backorder]] = {}  # only customers loaded
        self.lines: dict[int, _Line] = {}
        self.lines_waiting: dict[int, list[_Line]] = {}  # PO line id -> open order lines
        self.orders: dict[int, _Order] = {}
        self.order_by_number: dict[str, _Order] = {}
        self.known_numbers: set[str] = set()
        self.customers: dict[str, _Customer] = {}
        self.locations: dict[str, int] = {}
        self.products: dict[str, tuple[int, str, Decimal]] = {}
        self.contracts: dict[int, _Contract] = {}
        self.positions: dict[tuple[int, int], _Position] = {}
        # What to write, in the order the per-event path inserts it.
        self.new_orders: list[_Order] = []
        self.new_lines: list[_Line] = []
        self.new_backorders: list[_Backorder] = []
        self.new_contracts: list[_Contract] = []
        self.new_positions: list[_Position] = []
        self.history: list[tuple[_Backorder, dict[str, Any]]] = []
        self.eta_rows: list[dict[str, Any]] = []
        # The audited changes, made once the rows have their ids (see allotment.audit.changes).
        self.changes: list[Callable[[], Change]] = []
        self.receipts: list[dict[str, Any]] = []
        self.notices: list[_Notice | _Created] = []
        self._created_rules: tuple[NotificationRule, ...] | None = None
        self.dirty_contracts: list[_Contract] = []
        self._undo: list[Callable[[], None]] = []
        self._next = _PENDING

    # -- the journal --

    def set(self, obj: Any, attr: str, value: Any) -> None:
        old = getattr(obj, attr)
        self._undo.append(lambda: setattr(obj, attr, old))
        setattr(obj, attr, value)
        obj.dirty.add(attr)

    def add(self, items: list[Any], item: Any) -> None:
        items.append(item)
        self._undo.append(items.pop)

    def put(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        if key in mapping:
            old = mapping[key]
            self._undo.append(lambda: mapping.__setitem__(key, old))
        else:
            self._undo.append(lambda: mapping.pop(key))
        mapping[key] = value

    def pending_id(self) -> int:
        self._next += 1
        return self._next

    def run(self, effect: Callable[[], Effect]) -> Effect:
        """Run one event's rules; undo what they changed in memory if they refuse it."""
        mark = len(self._undo)
        try:
            result = effect()
        except BaseException:
            while len(self._undo) > mark:
                self._undo.pop()()
            raise
        del self._undo[mark:]
        return result

    # -- the rows the rules read --

    def po_line(self, po_number: str, line_no: int) -> _PoLine:
        line = self.po_lines.get((po_number, line_no))
        if line is None:
            raise EventReferenceError(
                f"purchase order {po_number} has no line {line_no}", field="po_number"
            )
        return line

    def customer(self, code: str) -> _Customer:
        found = self.customers.get(code)
        if found is None:
            raise EventReferenceError(f"customer {code} does not exist", field="customer_code")
        return found

    def location(self, code: str) -> int:
        found = self.locations.get(code)
        if found is None:
            raise EventReferenceError(f"location {code} does not exist", field="location_code")
        return found

    def product_ids(self, skus: Sequence[str]) -> dict[str, tuple[int, str, Decimal]]:
        missing = sorted(set(skus) - set(self.products))
        if missing:
            raise EventReferenceError(f"product {', '.join(missing)} does not exist", field="sku")
        return {s: self.products[s] for s in skus}

    def waiting_on(self, po_line_id: int) -> list[_Backorder]:
        """Active backorders served by a PO line: emergencies first, then earliest promised
        date, then oldest (see ``domain.repository.active_backorders_waiting_on_po_line``)."""
        return sorted(
            (b for b in self.waiting.get(po_line_id, ()) if b.status in ACTIVE_STATUSES),
            key=lambda b: (not b.is_emergency, b.promised_date, b.created_at, b.id),
        )

    def active_of_line(self, order_line_id: int) -> _Backorder | None:
        for b in self.of_line.get(order_line_id, ()):
            if b.status in ACTIVE_STATUSES:
                return b
        return None

    def active_of_customer(self, customer_id: int) -> list[int]:
        found = self.of_customer.get(customer_id)
        if found is None:
            raise _Unhandled(f"customer {customer_id} not loaded")
        return sorted(b.id for b in found if b.status in ACTIVE_STATUSES)

    def position(self, product_id: int, location_id: int, at: datetime) -> _Position:
        """A stock position, created (in memory) when there is none."""
        found = self.positions.get((product_id, location_id))
        if found is None:
            found = _Position(None, product_id, location_id, 0, 0, at, new=True)
            self.put(self.positions, (product_id, location_id), found)
            self.add(self.new_positions, found)
        return found

    # -- the changes --

    def transition(
        self,
        backorder: _Backorder,
        to: BackorderStatus,
        reason: str,
        at: datetime,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """``domain.backorders.transition`` on the row in memory (the lifecycle decides);
        ``before``/``after``: the other fields the change moves, for its audit record."""
        check_transition(
            backorder.status, to, reason=reason, backorder=backorder.number or backorder.id
        )
        old = backorder.status
        self.add(
            self.changes,
            lambda: changes.status_changed(backorder.id, old, to, before=before, after=after),
        )
        self.add(
            self.history,
            (
                backorder,
                {
                    "from_status": backorder.status,
                    "to_status": to,
                    "changed_at": at,
                    "changed_by": self.actor,
                    "reason": reason,
                },
            ),
        )
        self.set(backorder, "status", to)
        self.set(backorder, "updated_at", at)
        if to in TERMINAL_STATUSES:
            self.set(backorder, "closed_at", at)

    def expect_on(self, backorder: _Backorder, eta: date, reason: str, at: datetime) -> bool:
        """``domain.backorders.expect_on`` on the row in memory."""
        old = backorder.expected_fulfillment_date
        self.set(backorder, "expected_fulfillment_date", eta)
        self.set(backorder, "updated_at", at)
        if backorder.status not in (BackorderStatus.OPEN, BackorderStatus.ETA_UPDATED):
            if old != eta:
                self.add(
                    self.changes, lambda: changes.expected_date_changed(backorder.id, old, eta)
                )
            return False
        if old != eta:
            self.transition(
                backorder,
                BackorderStatus.ETA_UPDATED,
                reason,
                at,
                before={"expected_fulfillment_date": old},
                after={"expected_fulfillment_date": eta},
            )
        else:
            self.transition(backorder, BackorderStatus.ETA_UPDATED, reason, at)
        return True

    def new_eta(self, line: _PoLine, eta: date, reason: str, at: datetime) -> None:
        change = changes.eta_changed(line.id, line.current_eta, eta)
        self.add(self.changes, lambda: change)
        self.add(
            self.eta_rows,
            {
                "po_line_id": line.id,
                "recorded_at": at,
                "previous_eta": line.current_eta,
                "new_eta": eta,
                "reason": reason,
            },
        )
        self.set(line, "current_eta", eta)

    def tell_customers(
        self, ids: list[int], old: date | None, new: date, event: PoDelayed | EtaUpdated
    ) -> None:
        if old == new:
            return
        for backorder_id in ids:
            backorder = self.backorders[backorder_id]
            self.add(
                self.notices,
                _Notice(
                    backorder,
                    backorder.order_context(),
                    old,
                    new,
                    event.event_id,
                    event.occurred_at,
                ),
            )

    def created_rules(self) -> tuple[NotificationRule, ...]:
        """The policy's immediate ``backorder_created`` rules (read once per batch, when the
        first backorder is created, as the per-event path reads them per delay)."""
        if self._created_rules is None:
            self._created_rules = tuple(
                notify_rules.immediate_rules(policy_in_force(self.session), notify_rules.CREATED)
            )
        return self._created_rules

    def register(self, backorder: _Backorder) -> _Backorder:
        """Index a backorder row (the one already loaded, if it was)."""
        known = self.backorders.get(backorder.id)
        if known is not None:
            return known
        self.backorders[backorder.id] = backorder
        if backorder.waits_on is not None:
            self.waiting.setdefault(backorder.waits_on, []).append(backorder)
        self.of_line.setdefault(backorder.order_line_id, []).append(backorder)
        mine = self.of_customer.get(backorder.customer_id)
        if mine is not None:
            mine.append(backorder)
        return backorder


def _backorder(row: Any) -> _Backorder:
    return _Backorder(
        id=row.id,
        number=row.number,
        order_line_id=row.order_line_id,
        po_line_id=row.po_line_id,
        waits_on=row.po_line_id if row.po_line_id is not None else row.line_po_line_id,
        quantity=row.quantity,
        open_quantity=row.open_quantity,
        root_cause=row.root_cause,
        status=row.status,
        value_at_risk=row.value_at_risk,
        expected_fulfillment_date=row.expected_fulfillment_date,
        reason=row.reason,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
        customer_id=row.customer_id,
        order_number=row.order_number,
        line_no=row.line_no,
        promised_date=row.promised_date,
        is_emergency=row.is_emergency,
        customer_code=row.customer_code,
        customer_name=row.customer_name,
        product_name=row.product_name,
        sku=row.sku,
    )


def _order(row: Any) -> _Order:
    return _Order(
        id=row.id,
        number=row.number,
        customer_id=row.customer_id,
        location_id=row.location_id,
        ordered_on=row.ordered_on,
        requested_date=row.requested_date,
        promised_date=row.promised_date,
        is_emergency=row.is_emergency,
        status=row.status,
        customer_code=row.customer_code,
        customer_name=row.customer_name,
    )


def _line(row: Any, order: _Order) -> _Line:
    return _Line(
        id=row.id,
        order=order,
        line_no=row.line_no,
        product_id=row.product_id,
        quantity=row.quantity,
        unit_price=row.unit_price,
        shipped_quantity=row.shipped_quantity,
        po_line_id=row.po_line_id,
        status=row.status,
        product_name=row.product_name,
        sku=row.sku,
    )


def _load(batch: _Batch, events: Sequence[BaseModel]) -> None:
    """Read what the events refer to, one SELECT per kind of row (locking PO lines, orders to
    cancel and stock positions in id order, as the per-event path does one by one)."""
    s = batch.session
    refs: set[tuple[str, int]] = set()
    delayed: set[tuple[str, int]] = set()
    customers: set[str] = set()
    locations: set[str] = set()
    skus: set[str] = set()
    cancel_numbers: set[str] = set()
    new_numbers: set[str] = set()
    contract_customers: set[str] = set()
    for e in events:
        if isinstance(e, PoDelayed | EtaUpdated | GoodsReceived):
            refs.add((e.po_number, e.line_no))
            if isinstance(e, PoDelayed):
                delayed.add((e.po_number, e.line_no))
        elif isinstance(e, OrderCreated):
            customers.add(e.customer_code)
            locations.add(e.location_code)
            skus.update(ln.sku for ln in e.lines)
            new_numbers.add(e.order_number)
        elif isinstance(e, OrderCancelled):
            cancel_numbers.add(e.order_number)
        elif isinstance(e, ContractChanged):
            customers.add(e.customer_code)
            contract_customers.add(e.customer_code)
        elif isinstance(e, InventoryAdjusted):
            skus.add(e.sku)
            locations.add(e.location_code)
        else:
            raise _Unhandled(type(e).__name__)

    for r in sql.po_lines(session=s, refs=refs):
        batch.po_lines[(r.number, r.line_no)] = _PoLine(**dict(r._mapping))
    by_id = {line.id: line for line in batch.po_lines.values()}
    # Held until the transaction ends: the per-event path (if the caller falls back to it)
    # need not lock them again.
    s.info.setdefault(domain_repo.LOCKED_PO_LINES, set()).update(by_id)
    for line_id, at in sql.eta_learned(session=s, po_line_ids=by_id).items():
        by_id[line_id].learned = at

    for r in sql.by_code(session=s, kind="customer", codes=customers):
        batch.customers[r.code] = _Customer(r.id, r.code, r.name, r.tier)
    for r in sql.by_code(session=s, kind="location", codes=locations):
        batch.locations[r.code] = r.id
    for r in sql.by_code(session=s, kind="product", codes=skus):
        batch.products[r.sku] = (r.id, r.name, r.unit_price)
    batch.known_numbers = sql.existing_order_numbers(session=s, numbers=new_numbers)

    # Orders: those a cancellation names (locked, with every line), those a delay may
    # backorder a line of.
    orders, lines = sql.orders_by_number(session=s, numbers=cancel_numbers)
    for r in orders:
        order = _order(r)
        order.lines = []
        batch.orders[order.id] = order
        batch.order_by_number[order.number] = order
    for r in lines:
        order = batch.orders[r.order_id]
        line = _line(r, order)
        batch.lines[line.id] = line
        cast(list[_Line], order.lines).append(line)  # in id order; sorted below
    for order in batch.orders.values():
        cast(list[_Line], order.lines).sort(key=lambda ln: ln.line_no)
    delayed_ids = {batch.po_lines[ref].id for ref in delayed if ref in batch.po_lines}
    waiting_lines, waiting_orders = sql.lines_waiting_on(session=s, po_line_ids=delayed_ids)
    for r in waiting_orders:
        if r.id not in batch.orders:
            batch.orders[r.id] = _order(r)
    for r in waiting_lines:
        line = batch.lines.get(r.id) or _line(r, batch.orders[r.order_id])
        batch.lines[line.id] = line
        batch.lines_waiting.setdefault(cast(int, line.po_line_id), []).append(line)
    for waiting in batch.lines_waiting.values():
        waiting.sort(key=lambda ln: (ln.order.promised_date, ln.id))

    # Active backorders: of the customers whose contract changes or whose order is
    # cancelled, waiting on the PO lines, of the order lines above.
    loaded = set(batch.customers[c].id for c in contract_customers if c in batch.customers)
    loaded.update(o.customer_id for o in batch.order_by_number.values())
    for customer_id in loaded:
        batch.of_customer[customer_id] = []
    rows = sql.active_backorders_of_customers(session=s, customer_ids=loaded)
    rows += sql.backorders_waiting_on(
        session=s,
        po_line_ids={line.id for ref, line in batch.po_lines.items() if ref in refs},
    )
    rows += sql.active_backorders_of_lines(session=s, order_line_ids=batch.lines)
    for r in rows:
        batch.register(_backorder(r))
    for r in sql.current_contracts(
        session=s,
        customer_ids=[batch.customers[c].id for c in contract_customers if c in batch.customers],
    ):
        batch.contracts[r.customer_id] = _Contract(dict(r._mapping))

    pairs: set[tuple[int, int]] = set()
    for e in events:
        if isinstance(e, GoodsReceived) and (e.po_number, e.line_no) in batch.po_lines:
            po_line = batch.po_lines[(e.po_number, e.line_no)]
            pairs.add((po_line.product_id, po_line.location_id))
        elif (
            isinstance(e, InventoryAdjusted)
            and e.sku in batch.products
            and e.location_code in batch.locations
        ):
            pairs.add((batch.products[e.sku][0], batch.locations[e.location_code]))
    for r in sql.inventory_positions(session=s, pairs=pairs):
        batch.positions[(r.product_id, r.location_id)] = _Position(**dict(r._mapping))


# --- the rules, one function per event type (as ``events.effects``) ----------------------------


def _stale(batch: _Batch, line: _PoLine, event: PoDelayed | EtaUpdated) -> bool:
    """An ETA learned before the one in force is stale (ties: the larger event id wins)."""
    latest = line.learned
    if latest is None or event.occurred_at > latest:
        return False
    if event.occurred_at < latest:
        return True
    return repo.later_eta_event_at(
        session=batch.session,
        subject=f"po_line:{line.id}",
        occurred_at=event.occurred_at,
        event_id=event.event_id,
    )


def _open(line: _PoLine) -> None:
    if line.status in _CLOSED_PO:
        raise PurchaseOrderLineStateError(
            f"purchase order line {line.id} is {line.status.value}", field="po_line_id"
        )


def _eta_updated(batch: _Batch, event: EtaUpdated) -> Effect:
    line = batch.po_line(event.po_number, event.line_no)
    subject = f"po_line:{line.id}"
    if _stale(batch, line, event):
        return Effect(status="stale", subject=subject, touched={"po_line": line.id})
    previous = line.current_eta or line.promised_date
    at = event.occurred_at
    _open(line)
    batch.new_eta(line, event.eta, event.reason[:200], at)
    ids: list[int] = []
    for backorder in batch.waiting_on(line.id):
        batch.expect_on(backorder, event.eta, f"ETA {previous} -> {event.eta}: {event.reason}", at)
        ids.append(backorder.id)
    batch.set(line, "learned", at)
    batch.tell_customers(ids, previous, event.eta, event)
    return Effect(
        touched={"po_line": line.id, "backorders_updated": ids}, rescore=ids, subject=subject
    )


def _po_delayed(batch: _Batch, event: PoDelayed) -> Effect:
    line = batch.po_line(event.po_number, event.line_no)
    subject = f"po_line:{line.id}"
    if _stale(batch, line, event):
        return Effect(status="stale", subject=subject, touched={"po_line": line.id})
    previous = line.current_eta or line.promised_date
    at, new_eta, reason = event.occurred_at, event.new_eta, event.reason
    if not reason.strip():
        raise BackorderCreationError("a delay needs a reason", field="reason")
    if line.status in _CLOSED_PO:
        raise BackorderCreationError(
            f"purchase order line {line.id} is {line.status.value}", field="po_line_id"
        )
    batch.new_eta(line, new_eta, reason, at)
    created: list[int] = []
    updated: list[int] = []
    customers: set[str] = set()
    value = Decimal("0.00")
    for order_line in batch.lines_waiting.get(line.id, ()):
        if order_line.status not in (OrderStatus.OPEN, OrderStatus.PARTIALLY_SHIPPED):
            continue
        open_qty = order_line.quantity - order_line.shipped_quantity
        existing = batch.active_of_line(order_line.id)
        if existing is not None:
            batch.expect_on(existing, new_eta, f"ETA {previous} -> {new_eta}: {reason}", at)
            updated.append(existing.id)
        elif new_eta > order_line.order.promised_date:
            created.append(
                _new_backorder(
                    batch,
                    order_line,
                    po_line_id=line.id,
                    quantity=open_qty,
                    root_cause=event.root_cause,
                    expected=new_eta,
                    reason=f"PO line {line.id} delayed to {new_eta}: {reason}",
                    at=at,
                ).id
            )
        else:
            continue
        customers.add(order_line.order.customer_code)
        value += to_money(order_line.unit_price * open_qty)
    batch.set(line, "learned", at)
    touched = {
        "po_line": line.id,
        "backorders_created": created,
        "backorders_updated": updated,
        "customers_affected": len(customers),
        "value_at_risk": str(value),
    }
    ids = created + updated
    batch.tell_customers(ids, previous, new_eta, event)
    return Effect(touched=touched, rescore=ids, subject=subject)


def _new_backorder(
    batch: _Batch,
    order_line: _Line,
    *,
    po_line_id: int,
    quantity: int,
    root_cause: RootCause,
    expected: date,
    reason: str,
    at: datetime,
) -> _Backorder:
    """``domain.backorders._new_backorder`` in memory (its id and number come at the write)."""
    order = order_line.order
    backorder = _Backorder(
        id=batch.pending_id(),
        number="",
        order_line_id=order_line.id,
        po_line_id=po_line_id,
        waits_on=po_line_id,
        quantity=quantity,
        open_quantity=quantity,
        root_cause=root_cause,
        status=BackorderStatus.OPEN,
        value_at_risk=to_money(order_line.unit_price * quantity),
        expected_fulfillment_date=expected,
        reason=reason,
        created_at=at,
        created_by=batch.actor,
        updated_at=at,
        closed_at=None,
        customer_id=order.customer_id,
        order_number=order.number,
        line_no=order_line.line_no,
        promised_date=order.promised_date,
        is_emergency=order.is_emergency,
        customer_code=order.customer_code,
        customer_name=order.customer_name,
        product_name=order_line.product_name,
        sku=order_line.sku,
        new=True,
    )
    batch.put(batch.backorders, backorder.id, backorder)
    batch.add(batch.waiting.setdefault(po_line_id, []), backorder)
    batch.add(batch.of_line.setdefault(order_line.id, []), backorder)
    mine = batch.of_customer.get(order.customer_id)
    if mine is not None:
        batch.add(mine, backorder)
    batch.add(batch.new_backorders, backorder)
    value_at_risk = backorder.value_at_risk
    batch.add(
        batch.changes,
        lambda: changes.backorder_created(
            backorder.id,
            order_line_id=backorder.order_line_id,
            po_line_id=po_line_id,
            quantity=quantity,
            root_cause=root_cause,
            status=BackorderStatus.OPEN,
            expected=expected,
            value_at_risk=value_at_risk,
        ),
    )
    rules = batch.created_rules()
    if rules:
        changed = batch.customers.get(order.customer_code)
        batch.add(
            batch.notices,
            _Created(
                backorder,
                backorder.order_context(),
                rules,
                changed.tier if changed is not None else None,
                backorder.expected_fulfillment_date,
                backorder.value_at_risk,
            ),
        )
    batch.add(
        batch.history,
        (
            backorder,
            {
                "from_status": None,
                "to_status": BackorderStatus.OPEN,
                "changed_at": at,
                "changed_by": batch.actor,
                "reason": reason,
            },
        ),
    )
    return backorder


def _goods_received(batch: _Batch, event: GoodsReceived) -> Effect:
    line = batch.po_line(event.po_number, event.line_no)
    received_on = event.received_on or event.occurred_at.date()
    at, quantity = event.occurred_at, event.quantity
    _open(line)
    left_on_line = line.quantity - line.received_quantity
    if quantity > left_on_line:
        raise PurchaseOrderLineStateError(
            f"purchase order line {line.id} expects {left_on_line} more unit(s),"
            f" {quantity} received",
            field="quantity",
        )
    batch.add(
        batch.receipts, {"po_line_id": line.id, "received_on": received_on, "quantity": quantity}
    )
    old_received, old_status = line.received_quantity, line.status
    batch.set(line, "received_quantity", line.received_quantity + quantity)
    batch.set(line, "received_on", received_on)
    batch.set(
        line,
        "status",
        PurchaseOrderStatus.RECEIVED
        if line.received_quantity == line.quantity
        else PurchaseOrderStatus.PARTIALLY_RECEIVED,
    )
    received = changes.goods_received(
        line.id,
        quantity=quantity,
        received_on=received_on,
        old_received=old_received,
        old_status=old_status,
        received=line.received_quantity,
        status=line.status,
    )
    batch.add(batch.changes, lambda: received)
    position = batch.position(line.product_id, line.location_id, at)
    batch.set(position, "on_hand", position.on_hand + quantity)
    batch.set(position, "updated_at", at)
    served: list[dict[str, Any]] = []
    left = quantity
    for backorder in batch.waiting_on(line.id):
        if left <= 0:
            break
        units = min(left, backorder.open_quantity)
        if units <= 0:
            continue
        remaining = backorder.open_quantity - units
        batch.transition(
            backorder,
            BackorderStatus.RESOLVED if remaining == 0 else BackorderStatus.PARTIALLY_RESOLVED,
            f"{units} unit(s) received on PO line {line.id} on {received_on}",
            at,
            before={"open_quantity": backorder.open_quantity},
            after={"open_quantity": remaining},
        )
        batch.set(backorder, "open_quantity", remaining)
        left -= units
        batch.set(position, "committed", position.committed + units)
        served.append({"id": backorder.id, "units": units, "status": backorder.status.value})
    return Effect(
        touched={"po_line": line.id, "backorders": served},
        rescore=[f["id"] for f in served],
    )


def _inventory_adjusted(batch: _Batch, event: InventoryAdjusted) -> Effect:
    product_id = batch.product_ids([event.sku])[event.sku][0]
    location_id = batch.location(event.location_code)
    at = event.occurred_at
    current = batch.positions.get((product_id, location_id))
    on_hand = current.on_hand if current is not None else 0
    new = on_hand + event.delta if event.delta is not None else event.on_hand
    if new is None or new < 0:
        raise InventoryAdjustmentError(
            f"stock on hand would be {new} (now {on_hand})", field="delta"
        )
    position = batch.position(product_id, location_id, at)
    change = changes.inventory_adjusted(product_id, location_id, on_hand, new)
    batch.add(batch.changes, lambda: change)
    batch.set(position, "on_hand", new)
    batch.set(position, "updated_at", at)
    return Effect(
        touched={"inventory": {"sku": event.sku, "location": event.location_code, "on_hand": new}}
    )


def _order_created(batch: _Batch, event: OrderCreated) -> Effect:
    customer = batch.customer(event.customer_code)
    location_id = batch.location(event.location_code)
    products = batch.product_ids([ln.sku for ln in event.lines])
    if event.order_number in batch.known_numbers or event.order_number in batch.order_by_number:
        raise OrderConflictError(f"order {event.order_number} already exists", field="order_number")
    order = _Order(
        id=batch.pending_id(),
        number=event.order_number,
        customer_id=customer.id,
        location_id=location_id,
        ordered_on=event.ordered_on,
        requested_date=event.requested_date,
        promised_date=event.promised_date,
        is_emergency=event.is_emergency,
        status=OrderStatus.OPEN,
        customer_code=customer.code,
        customer_name=customer.name,
        lines=[],
        new=True,
    )
    for ln in event.lines:
        product_id, name, price = products[ln.sku]
        line = _Line(
            id=0,
            order=order,
            line_no=ln.line_no,
            product_id=product_id,
            quantity=ln.quantity,
            unit_price=to_money(ln.unit_price if ln.unit_price is not None else price),
            shipped_quantity=0,
            po_line_id=None,
            status=OrderStatus.OPEN,
            product_name=name,
            sku=ln.sku,
            new=True,
        )
        cast(list[_Line], order.lines).append(line)
        batch.add(batch.new_lines, line)
    batch.put(batch.order_by_number, order.number, order)
    batch.put(batch.orders, order.id, order)
    batch.add(batch.new_orders, order)
    batch.add(
        batch.changes,
        lambda: changes.order_created(
            order.id,
            number=order.number,
            customer_id=order.customer_id,
            location_id=order.location_id,
            promised_date=order.promised_date,
            is_emergency=order.is_emergency,
            lines=[
                (ln.line_no, ln.product_id, ln.quantity, ln.unit_price)
                for ln in cast(list[_Line], order.lines)
            ],
        ),
    )
    return Effect(touched={"order": order.id, "lines": len(event.lines)})


def _order_cancelled(batch: _Batch, event: OrderCancelled) -> Effect:
    order = batch.order_by_number.get(event.order_number)
    if order is None:
        raise EventReferenceError(
            f"order {event.order_number} does not exist", field="order_number"
        )
    lines = cast(list[_Line], order.lines)
    by_no = {line.line_no: line for line in lines}
    if event.line_nos is not None:
        unknown = sorted(set(event.line_nos) - set(by_no))
        if unknown:
            raise OrderConflictError(
                f"order {order.number} has no line {', '.join(map(str, unknown))}",
                field="line_nos",
            )
    chosen = (
        [by_no[n] for n in sorted(set(event.line_nos))] if event.line_nos is not None else lines
    )
    at = event.occurred_at
    cancelled: list[int] = []
    for line in chosen:
        if line.status in _DONE_LINE:
            continue
        batch.add(
            batch.changes,
            lambda line=line, old=line.status: changes.order_line_status_changed(
                line.id, old, OrderStatus.CANCELLED
            ),
        )
        batch.set(line, "status", OrderStatus.CANCELLED)
        backorder = batch.active_of_line(line.id)
        if backorder is not None:
            batch.transition(
                backorder,
                BackorderStatus.CANCELLED,
                f"order {order.number} line {line.line_no} cancelled: {event.reason}",
                at,
            )
            cancelled.append(backorder.id)
    if all(line.status in _DONE_LINE for line in lines) and any(
        line.status is OrderStatus.CANCELLED for line in lines
    ):
        if order.status is not OrderStatus.CANCELLED:
            old_status = order.status
            batch.add(
                batch.changes,
                lambda: changes.order_status_changed(order.id, old_status, OrderStatus.CANCELLED),
            )
        batch.set(order, "status", OrderStatus.CANCELLED)
    others = batch.active_of_customer(order.customer_id) if cancelled else []
    return Effect(touched={"order": order.id, "backorders_cancelled": cancelled}, rescore=others)


def _contract_changed(batch: _Batch, event: ContractChanged) -> Effect:
    customer = batch.customer(event.customer_code)
    terms = {t: getattr(event, t) for t in contract_rules.TERMS if getattr(event, t) is not None}
    current = batch.contracts.get(customer.id)
    effective_from = event.effective_from
    if current is not None:
        values = current.values
        if effective_from <= values["effective_from"]:
            raise ContractChangeError(
                f"contract change effective {effective_from} is not after the current version"
                f" {values['version']} (effective {values['effective_from']})",
                field="effective_from",
            )
        new_values = {t: values[t] for t in contract_rules.TERMS}
        version = values["version"] + 1
        old_to = values["effective_to"]
        values["effective_to"] = effective_from - timedelta(days=1)
        current.dirty.add("effective_to")
        batch._undo.append(lambda: values.__setitem__("effective_to", old_to))
    else:
        missing = [
            t for t in ("sla_days", "fill_rate_commitment", "renewal_date") if t not in terms
        ]
        if missing:
            raise ContractChangeError(
                f"customer {customer.code} has no contract: a first one needs {', '.join(missing)}",
                field=missing[0],
            )
        new_values, version = dict(contract_rules.DEFAULTS), 1
    new_values.update(terms)
    contract = _Contract(
        {
            "customer_id": customer.id,
            "version": version,
            "effective_from": effective_from,
            "effective_to": None,
            **new_values,
        },
        new=True,
    )
    batch.put(batch.contracts, customer.id, contract)
    batch.add(batch.new_contracts, contract)
    if current is not None and not current.new:
        batch.add(batch.dirty_contracts, current)
    old_tier = customer.tier
    if event.tier is not None:
        batch.set(customer, "tier", event.tier)
    change = changes.contract_changed(
        customer.id,
        old_version=None if current is None else current.values["version"],
        old_tier=old_tier,
        old_effective_from=None if current is None else current.values["effective_from"],
        old_terms=None if current is None else {t: current.values[t] for t in contract_rules.TERMS},
        version=version,
        tier=customer.tier,
        effective_from=effective_from,
        terms=new_values,
    )
    batch.add(batch.changes, lambda: change)
    ids = batch.active_of_customer(customer.id)
    return Effect(
        touched={
            "customer": customer.id,
            "contract_version": version,
            "tier": customer.tier.value,
            "backorders_reprioritized": ids,
        },
        rescore=ids,
    )


_RULES: dict[type[BaseModel], Callable[[_Batch, Any], Effect]] = {
    EtaUpdated: _eta_updated,
    PoDelayed: _po_delayed,
    GoodsReceived: _goods_received,
    InventoryAdjusted: _inventory_adjusted,
    OrderCreated: _order_created,
    OrderCancelled: _order_cancelled,
    ContractChanged: _contract_changed,
}


# --- the write -------------------------------------------------------------------------------


def _updates(
    session: Session, rows: Sequence[Any], table: Table, columns: Callable[[Any], dict[str, Any]]
) -> None:
    """Write the changed columns of changed rows, one executemany per set of columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for obj in rows:
        if obj.dirty and not getattr(obj, "new", False):
            cols = tuple(sorted(c for c in obj.dirty if c in table.c))
            if cols:
                values = columns(obj)
                groups.setdefault(cols, []).append(
                    {"_id": values["id"], **{c: values[c] for c in cols}}
                )
    for cols, batch_rows in groups.items():
        sql.update_rows(session=session, table=table, columns=cols, rows=batch_rows)


def _write(batch: _Batch) -> tuple[dict[int, int], dict[int, int]]:
    """Write the batch's changes; return the real ids of the orders and backorders it
    created (pending id -> id)."""
    s = batch.session
    # Tier and account manager of the customers new backorders tell about, read before this
    # batch's own customer updates are written.
    contacts = sql.customer_contacts(
        session=s, ids=(n.backorder.customer_id for n in batch.notices if isinstance(n, _Created))
    )
    orders_t, lines_t = _table(CustomerOrder), _table(CustomerOrderLine)
    backorders_t = _table(Backorder)
    order_ids = dict(
        zip(
            (o.id for o in batch.new_orders),
            sql.allocate_ids(session=s, table=orders_t, n=len(batch.new_orders)),
            strict=True,
        )
    )
    for order in batch.new_orders:
        order.id = order_ids[order.id]
    # The new lines' ids too: an order cancelled in the batch that created it audits them.
    line_ids = sql.allocate_ids(session=s, table=lines_t, n=len(batch.new_lines))
    for ln, line_id in zip(batch.new_lines, line_ids, strict=True):
        ln.id = line_id
    backorder_ids = dict(
        zip(
            (b.id for b in batch.new_backorders),
            sql.allocate_ids(session=s, table=backorders_t, n=len(batch.new_backorders)),
            strict=True,
        )
    )
    for backorder in batch.new_backorders:
        backorder.id = backorder_ids[backorder.id]
        backorder.number = backorder_number(backorder.id, backorder.created_at.year)

    sql.insert_rows(
        session=s,
        table=orders_t,
        rows=[
            {
                "id": o.id,
                "number": o.number,
                "customer_id": o.customer_id,
                "location_id": o.location_id,
                "ordered_on": o.ordered_on,
                "requested_date": o.requested_date,
                "promised_date": o.promised_date,
                "is_emergency": o.is_emergency,
                "status": o.status,
            }
            for o in batch.new_orders
        ],
    )
    sql.insert_rows(
        session=s,
        table=lines_t,
        rows=[
            {
                "id": ln.id,
                "order_id": ln.order.id,
                "line_no": ln.line_no,
                "product_id": ln.product_id,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "shipped_quantity": ln.shipped_quantity,
                "po_line_id": ln.po_line_id,
                "status": ln.status,
                "shipped_on": None,
            }
            for ln in batch.new_lines
        ],
    )
    _updates(s, list(batch.lines.values()), lines_t, lambda ln: vars(ln))
    _updates(s, [o for o in batch.orders.values()], orders_t, lambda o: vars(o))
    _updates(s, list(batch.customers.values()), _table(Customer), lambda c: vars(c))
    contracts_t = _table(Contract)
    _updates(s, batch.dirty_contracts, contracts_t, lambda c: c.values)
    sql.insert_rows(
        session=s,
        table=contracts_t,
        rows=[{k: v for k, v in c.values.items() if k != "id"} for c in batch.new_contracts],
    )
    _updates(s, list(batch.po_lines.values()), _table(PurchaseOrderLine), lambda ln: vars(ln))
    sql.insert_rows(session=s, table=_table(EtaChange), rows=batch.eta_rows)
    sql.insert_rows(session=s, table=_table(Receipt), rows=batch.receipts)
    positions_t = _table(InventoryPosition)
    _updates(s, list(batch.positions.values()), positions_t, lambda p: vars(p))
    sql.insert_rows(
        session=s,
        table=positions_t,
        rows=[
            {
                "product_id": p.product_id,
                "location_id": p.location_id,
                "on_hand": p.on_hand,
                "committed": p.committed,
                "updated_at": p.updated_at,
            }
            for p in batch.new_positions
        ],
    )
    # Existing backorders first: one that closed frees its order line for a new one.
    _updates(s, list(batch.backorders.values()), backorders_t, lambda b: vars(b))
    sql.insert_rows(
        session=s,
        table=backorders_t,
        rows=[
            {
                "id": b.id,
                "number": b.number,
                "order_line_id": b.order_line_id,
                "po_line_id": b.po_line_id,
                "quantity": b.quantity,
                "open_quantity": b.open_quantity,
                "root_cause": b.root_cause,
                "status": b.status,
                "value_at_risk": b.value_at_risk,
                "expected_fulfillment_date": b.expected_fulfillment_date,
                "priority": None,
                "allocation_status": AllocationStatus.UNALLOCATED,
                "reason": b.reason,
                "created_at": b.created_at,
                "created_by": b.created_by,
                "updated_at": b.updated_at,
                "closed_at": b.closed_at,
            }
            for b in batch.new_backorders
        ],
    )
    sql.insert_rows(
        session=s,
        table=_table(BackorderStatusChange),
        rows=[{"backorder_id": b.id, **row} for b, row in batch.history],
    )
    notices: list[dict[str, Any]] = []
    for n in batch.notices:
        context = {
            **n.context,
            "backorder_id": n.backorder.id,
            "backorder_number": n.backorder.number,
        }
        if isinstance(n, _Notice):
            notices.extend(
                outbox.eta_change_rows(context, n.old, n.new, event_id=n.event_id, now=n.at)
            )
            continue
        b = n.backorder
        tier, manager = contacts[b.customer_id]
        notices.extend(
            notify_rules.created_rows(
                n.rules,
                tier=n.tier if n.tier is not None else tier,
                account_manager=manager,
                context=context,
                backorder_id=b.id,
                root_cause=b.root_cause.value,
                eta=n.eta,
                value_at_risk=n.value_at_risk,
                reason=b.reason,
                created_at=b.created_at,
            )
        )
    notify_repo.insert_many_new(session=s, rows=notices)
    return order_ids, backorder_ids


_BACKORDER_LISTS = (
    "backorders_created",
    "backorders_updated",
    "backorders_cancelled",
    "backorders_reprioritized",
)


def _resolve(
    effect: Effect, orders: dict[int, int], backorders: dict[int, int], made: list[Change]
) -> Effect:
    """The effect with the pending ids of the rows it created replaced by their real ids, and
    the changes it made."""
    if not orders and not backorders:
        effect.changes = made
        return effect
    touched = dict(effect.touched)
    for key in _BACKORDER_LISTS:
        if key in touched:
            touched[key] = [backorders.get(i, i) for i in touched[key]]
    if "backorders" in touched:
        touched["backorders"] = [
            {**f, "id": backorders.get(f["id"], f["id"])} for f in touched["backorders"]
        ]
    if "order" in touched:
        touched["order"] = orders.get(touched["order"], touched["order"])
    return Effect(
        status=effect.status,
        touched=touched,
        rescore=[backorders.get(i, i) for i in effect.rescore],
        subject=effect.subject,
        changes=made,
    )


def apply(
    session: Session, jobs: Sequence[tuple[int, BaseModel, str]], actor: str
) -> dict[int, Effect | str] | None:
    """Each job's effect, or its error (parked); ``None`` when the batch needs the per-event
    path (nothing written then; the look-ups' locks are kept)."""
    session.flush()  # the caller's pending changes, before the rows are read
    batch = _Batch(session, actor)
    events = [evt for _i, evt, _t in jobs]
    try:
        _load(batch, events)
    except _Unhandled as exc:
        log.info("event batch not applied set-wise: %s", exc)
        return None
    results: dict[int, Effect | str] = {}
    made: dict[int, list[Callable[[], Change]]] = {}
    try:
        for i, evt, _type in jobs:
            rule = _RULES[type(evt)]
            mark = len(batch.changes)
            try:
                results[i] = batch.run(partial(rule, batch, evt))
                made[i] = batch.changes[mark:]
            except AppError as exc:
                results[i] = describe(exc)
                log.info("event %s parked: %s", getattr(evt, "event_id"), results[i])  # noqa: B009
    except _Unhandled as exc:
        log.info("event batch not applied set-wise: %s", exc)
        return None
    except SQLAlchemyError:
        raise
    except Exception:
        # Not a rule refusing an event: a case this path gets wrong. The per-event path
        # decides (and parks the event, if it fails there too).
        log.warning("event batch not applied set-wise", exc_info=True)
        return None
    savepoint = session.begin_nested()
    try:
        orders, backorders = _write(batch)
    except SQLAlchemyError as exc:
        if is_fatal(exc):
            raise
        savepoint.rollback()
        log.info("event batch not applied set-wise: %s", exc)
        return None
    savepoint.commit()
    # The rows changed under the session's objects of these kinds: they load again when read.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, _WRITTEN):
            session.expire(obj)
    return {
        i: r if isinstance(r, str) else _resolve(r, orders, backorders, [f() for f in made[i]])
        for i, r in results.items()
    }
