"""Errors of the allocation pipeline."""

from __future__ import annotations

from typing import Any

from allotment.errors import AppError


class AllocationInputInvalidError(AppError):
    """The problem cannot be modelled as given; ``field`` names the offending input."""

    status_code = 422
    code = "allocation_input_invalid"

    def __init__(self, message: str, *, field: str, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class AllocationInfeasibleError(AppError):
    """No plan satisfies every hard constraint; ``conflicts`` names the constraints that clash.

    :func:`allotment.allocation.solve.solve` returns infeasibility as a result; this error is for
    callers that cannot go on without a plan (the ``--commit`` path).
    """

    status_code = 409
    code = "allocation_infeasible"

    def __init__(self, message: str, *, conflicts: list[str]) -> None:
        super().__init__(message, conflicts=list(conflicts))
        self.conflicts = list(conflicts)
