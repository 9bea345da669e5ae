"""Enumerations of the domain. Values are the strings stored in the database and the API."""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    VIP = "vip"
    PREMIUM = "premium"
    STANDARD = "standard"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    CHURNED = "churned"


class ShipMode(StrEnum):
    OCEAN = "ocean"
    GROUND = "ground"
    AIR = "air"


class PurchaseOrderStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class OrderStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class BackorderStatus(StrEnum):
    OPEN = "open"
    ETA_UPDATED = "eta_updated"
    PARTIALLY_RESOLVED = "partially_resolved"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class RootCause(StrEnum):
    SUPPLIER_DELAY = "supplier_delay"
    QUALITY = "quality"
    LOGISTICS = "logistics"
    DEMAND_SPIKE = "demand_spike"
    STOCKOUT = "stockout"
    OTHER = "other"


class AllocationStatus(StrEnum):
    UNALLOCATED = "unallocated"
    PARTIALLY_ALLOCATED = "partially_allocated"
    ALLOCATED = "allocated"


class TruthKind(StrEnum):
    """Outcomes the synthetic world draws from a known probability."""

    SUPPLIER_DELAY = "supplier_delay"
    SLA_BREACH = "sla_breach"
    CHURN = "churn"


class PolicyStatus(StrEnum):
    """A policy version's life: drafted, then active (exactly one at a time), then retired."""

    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class ContactOutcome(StrEnum):
    """How a customer-service call about open backorders ended."""

    REACHED = "reached"
    LEFT_MESSAGE = "left_message"
    NO_ANSWER = "no_answer"
    CALLBACK_REQUESTED = "callback_requested"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_DECLINED = "offer_declined"
