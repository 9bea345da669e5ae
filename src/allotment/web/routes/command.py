"""The command center: where the backlog stands and what needs a decision first."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from allotment.api.deps import SessionDep
from allotment.insights.command_center import Group, command_center
from allotment.insights.kpis import kpis
from allotment.insights.sql import reference_day
from allotment.web.deps import WebUser, page
from allotment.web.format import words
from allotment.web.render import render

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("insights:read"))]

#: How many of the highest-priority backorders the command center lists.
CRITICAL = 10
#: The KPIs' window (days before the reference day).
KPI_DAYS = 90
PIPELINE_LABELS = {
    "overdue": "Overdue",
    "next_24_hours": "Next 24 hours",
    "next_3_days": "Next 3 days",
    "next_7_days": "Next 7 days",
    "later": "Later",
    "unknown": "Unknown ETA",
}


def chart(groups: list[Group], label: str, color: str, names: dict[str, str] | None = None) -> str:
    """A bar chart's spec (read by app.js) from the same groups the table shows."""
    return json.dumps(
        {
            "type": "bar",
            "labels": [(names or {}).get(g.key, words(g.key)) for g in groups],
            "datasets": [
                {"label": label, "data": [g.backorders for g in groups], "backgroundColor": color}
            ],
        }
    )


@router.get("")
def command_center_page(request: Request, session: SessionDep, user: Reader) -> Response:
    """Summary, aging, critical backorders and their next action, pipeline, causes, suppliers."""
    day = reference_day(session)
    cc = command_center(session, as_of=day, critical_limit=CRITICAL)
    indicators = kpis(session, since=day - timedelta(days=KPI_DAYS), until=day + timedelta(days=1))
    context: dict[str, Any] = {
        "cc": cc,
        "k": indicators,
        "kpi_days": KPI_DAYS,
        "pipeline_labels": PIPELINE_LABELS,
        "aging_chart": chart(cc.aging, "backorders", "#1f5fbf"),
        "pipeline_chart": chart(cc.pipeline, "backorders", "#2e7d32", PIPELINE_LABELS),
        "causes_chart": chart(cc.root_causes, "backorders", "#b26a00"),
    }
    return render(request, "command_center.html", context, user=user)
