"""Errors of the supply, order, contract and inventory services (one hierarchy: AppError)."""

from __future__ import annotations

from allotment.errors import AppError


class PurchaseOrderLineStateError(AppError):
    """A PO line cannot take this change (received, cancelled, or more units than ordered)."""

    status_code = 409
    code = "po_line_state_invalid"


class OrderConflictError(AppError):
    """An order number that exists already, or a change its state does not allow."""

    status_code = 409
    code = "order_conflict"


class ContractChangeError(AppError):
    """A contract change that cannot become a version (missing terms, effective too early)."""

    status_code = 422
    code = "contract_change_invalid"


class InventoryAdjustmentError(AppError):
    """An adjustment that would leave a negative stock on hand."""

    status_code = 422
    code = "inventory_adjustment_invalid"
