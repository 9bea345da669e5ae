"""The command center, backorder patterns (analytics) and KPIs: read-only figures.

The bodies are the insights' own dataclasses (``allotment.insights``): one definition of each
figure, documented there, serialized as is (money as exact decimal strings, USD).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.pagination import check_limit
from allotment.api.schemas.common import IsoDate, Limit
from allotment.errors import AppError
from allotment.insights import analytics, command_center, kpis
from allotment.insights.sql import reference_day, shift

router = APIRouter(tags=["insights"])

Reader = Annotated[Principal, Depends(require("insights:read"))]
AsOf = Annotated[
    IsoDate | None,
    Query(description="The day figures are aged against; default: the latest scoring day."),
]
Since = Annotated[IsoDate | None, Query(description="First day of the period (inclusive).")]
Until = Annotated[IsoDate | None, Query(description="Day after the period (exclusive).")]

#: The KPIs' default period: this many days up to and including the reference day.
DEFAULT_PERIOD_DAYS = 90


class PeriodInvalidError(AppError):
    """A period whose end is not after its start."""

    status_code = 422
    code = "period_invalid"


def _check_period(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and until <= since:
        raise PeriodInvalidError(f"until ({until}) must be after since ({since})", field="until")


@router.get(
    "/command-center",
    response_model=command_center.CommandCenter,
    responses=responses(401, 403, 422),
    summary="Summary, aging, critical backorders, ETA pipeline, root causes, suppliers",
)
def get_command_center(
    session: SessionDep,
    _user: Reader,
    as_of: AsOf = None,
    critical: Annotated[int, Query(ge=1, le=100, description="Critical backorders listed.")] = 10,
    suppliers: Annotated[int, Query(ge=1, le=200, description="Suppliers listed.")] = 20,
    supplier_window_days: Annotated[
        int, Query(ge=1, le=3650, description="Days of PO receipts the on-time rate covers.")
    ] = 90,
) -> command_center.CommandCenter:
    """The command center as of one day (definitions: ``allotment.insights.command_center``)."""
    return command_center.command_center(
        session,
        as_of=as_of or reference_day(session),
        critical_limit=critical,
        supplier_window_days=supplier_window_days,
        supplier_limit=suppliers,
    )


@router.get(
    "/analytics/{by}",
    response_model=analytics.Patterns,
    responses=responses(401, 403, 422),
    summary="Backorder patterns by supplier, product, category, month or root cause",
)
def get_patterns(
    by: Annotated[analytics.Dimension, Path(description="What to group backorders by.")],
    session: SessionDep,
    settings: SettingsDep,
    _user: Reader,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
) -> analytics.Patterns:
    """Backorders created in ``[since, until)`` grouped by ``by`` (months in calendar order)."""
    check_limit(limit, max_page_size=settings.max_page_size)
    _check_period(since, until)
    return analytics.patterns(session, by=by, since=since, until=until, limit=limit)


@router.get(
    "/kpis",
    response_model=kpis.Kpis,
    responses=responses(401, 403, 422),
    summary="Backorder rate, fill rate, resolution time, revenue at risk, prevention rate",
)
def get_kpis(
    session: SessionDep, _user: Reader, since: Since = None, until: Until = None
) -> kpis.Kpis:
    """KPIs of ``[since, until)``; a missing bound is 90 days from the other, and without
    either the period is the 90 days up to and including the latest scoring day."""
    _check_period(since, until)
    if until is None:
        until = shift(since, DEFAULT_PERIOD_DAYS) if since else shift(reference_day(session), 1)
    if since is None:
        since = shift(until, -DEFAULT_PERIOD_DAYS)
    return kpis.kpis(session, since=since, until=until)
