"""Shared test data for notifications."""

from __future__ import annotations

from typing import Any

#: A complete ``customer_eta_change`` context (the smallest template with every field given).
ETA_CONTEXT: dict[str, Any] = {
    "backorder_number": "BO-2026-0000001",
    "old_eta": "2026-03-01",
    "new_eta": "2026-03-09",
    "customer_name": "Metro Manufacturing",
    "quantity": 4,
    "product_name": "Control Module",
    "order_number": "SO-1",
    "line_no": 1,
}
