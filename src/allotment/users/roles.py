"""The roles a user of the service can hold (one per user). Values are stored and sent as-is."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PLANNER = "planner"
    CUSTOMER_SERVICE = "customer_service"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    DIRECTOR = "director"
    ACCOUNT_MANAGER = "account_manager"
    DATA_SCIENTIST = "data_scientist"
    ADMIN = "admin"
