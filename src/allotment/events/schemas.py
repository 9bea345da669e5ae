"""The events a connector sends: one pydantic model per ``type`` (a discriminated union).

Every event carries ``event_id`` (the idempotency key: the same id twice changes nothing) and
``occurred_at`` (when it happened at the source, timezone-aware). References use the natural keys
a connector knows (PO number and line number, order number, customer code, SKU, location code),
never our database ids. Unknown fields are refused (422 naming the field).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from allotment.domain.enums import RootCause, Tier

#: The most events one request (or one CLI batch) may carry.
MAX_BATCH = 1000
MAX_QUANTITY = 2**31 - 1
_KEY = r"^[^\x00]+$"

Key = Annotated[str, Field(min_length=1, max_length=64, pattern=_KEY)]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=_KEY)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class _Event(BaseModel):
    """What every event carries."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    event_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            pattern=_KEY,
            description="The idempotency key: resending an id returns its first result.",
        ),
    ]
    occurred_at: Annotated[
        AwareDatetime, Field(description="When it happened at the source (with a timezone).")
    ]

    @field_validator("occurred_at", mode="after")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        if not 1970 <= value.year <= 9998:
            raise ValueError("occurred_at must be between 1970 and 9998")
        return value


class PoLineRef(_Event):
    po_number: Key
    line_no: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class PoDelayed(PoLineRef):
    """A supplier says a PO line will be late: new ETA; backorders for the lines it breaks."""

    type: Literal["po_delayed"]
    new_eta: date
    reason: Reason = "supplier delay notice"
    root_cause: RootCause = RootCause.SUPPLIER_DELAY


class EtaUpdated(PoLineRef):
    """A revised ETA for a PO line (earlier or later); no new backorders."""

    type: Literal["eta_updated"]
    eta: date
    reason: Reason = "ETA revised by the supplier"


class GoodsReceived(PoLineRef):
    """Units of a PO line arrived: they serve the backorders waiting on it."""

    type: Literal["goods_received"]
    quantity: Quantity
    received_on: date | None = Field(
        default=None, description="Defaults to the day of occurred_at (UTC)."
    )


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    line_no: Annotated[int, Field(ge=1, le=10_000)]
    sku: Key
    quantity: Quantity
    unit_price: Annotated[
        Decimal | None,
        Field(
            default=None,
            ge=0,
            le=Decimal("100000000"),
            decimal_places=2,
            description="USD; defaults to the product's list price.",
        ),
    ] = None


class OrderCreated(_Event):
    """A new customer order."""

    type: Literal["order_created"]
    order_number: Key
    customer_code: Key
    location_code: Key
    ordered_on: date
    requested_date: date
    promised_date: date
    is_emergency: bool = False
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _lines_unique(self) -> OrderCreated:
        numbers = [line.line_no for line in self.lines]
        if len(numbers) != len(set(numbers)):
            raise ValueError("lines: line_no must be unique within an order")
        return self


class OrderCancelled(_Event):
    """A customer cancels an order (all its open lines, or the ones listed)."""

    type: Literal["order_cancelled"]
    order_number: Key
    line_nos: Annotated[list[Annotated[int, Field(ge=1, le=10_000)]] | None, Field()] = None
    reason: Reason = "cancelled by the customer"


class ContractChanged(_Event):
    """A customer's contract or tier changes: a new contract version, re-prioritization."""

    type: Literal["contract_changed"]
    customer_code: Key
    effective_from: date
    tier: Tier | None = None
    sla_days: Annotated[int | None, Field(ge=0, le=3650)] = None
    fill_rate_commitment: Annotated[float | None, Field(ge=0, le=1)] = None
    penalty_rate_per_day: Annotated[float | None, Field(ge=0, le=1)] = None
    penalty_cap_rate: Annotated[float | None, Field(ge=0, le=10)] = None
    allows_partial_ship: bool | None = None
    allows_substitution: bool | None = None
    renewal_date: date | None = None
    reason: Reason = "contract changed"


class InventoryAdjusted(_Event):
    """A stock count or correction at a warehouse: ``delta`` units, or a counted ``on_hand``."""

    type: Literal["inventory_adjusted"]
    sku: Key
    location_code: Key
    delta: Annotated[int | None, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)] = None
    on_hand: Annotated[int | None, Field(ge=0, le=MAX_QUANTITY)] = None
    reason: Reason = "inventory adjustment"

    @model_validator(mode="after")
    def _one_of(self) -> InventoryAdjusted:
        if (self.delta is None) == (self.on_hand is None):
            raise ValueError("give exactly one of delta and on_hand")
        if self.delta == 0:
            raise ValueError("delta must not be 0")
        return self


Event = Annotated[
    PoDelayed
    | EtaUpdated
    | GoodsReceived
    | OrderCreated
    | OrderCancelled
    | ContractChanged
    | InventoryAdjusted,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[str, ...] = (
    "po_delayed",
    "eta_updated",
    "goods_received",
    "order_created",
    "order_cancelled",
    "contract_changed",
    "inventory_adjusted",
)
#: Events that carry an ETA for a PO line: an older one than the ETA applied is stale.
ETA_TYPES: frozenset[str] = frozenset({"po_delayed", "eta_updated"})


class EventBatch(BaseModel):
    """Up to :data:`MAX_BATCH` events, applied in the order given."""

    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_BATCH)]


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "single"


#: A request body: one event, or ``{"events": [...]}``.
EventsBody = Annotated[
    Annotated[EventBatch, Tag("batch")] | Annotated[Event, Tag("single")],
    Discriminator(_shape),
]

EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


def canonical_payload(event: BaseModel) -> dict[str, Any]:
    """The event as JSON data with defaults filled in: what its payload hash is taken over."""
    data: dict[str, Any] = event.model_dump(mode="json")
    return data
