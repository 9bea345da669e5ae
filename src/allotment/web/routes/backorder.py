"""One backorder: the priority's waterfall, risks, ETA, history, recommendations; compare."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from allotment.api.deps import SessionDep
from allotment.api.repositories import backorders as repo
from allotment.api.schemas.common import MAX_INT
from allotment.errors import AppError, NotFoundError
from allotment.explain import reasons as reason_text
from allotment.recommend import repository as recs_repo
from allotment.scoring.explanation import BackorderExplanation, contrast, explain_backorder
from allotment.web.deps import WebUser, page
from allotment.web.render import render
from allotment.web.routes.approvals import DECISIONS, rec_view

router = APIRouter(prefix="/dashboard/backorders", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("backorders:read"))]
IdParam = Annotated[int, Path(ge=1, le=MAX_INT)]

#: Risk gauges: at or above ``high`` a risk reads as high, at or above ``low`` as elevated.
GAUGE_LOW, GAUGE_HIGH = 0.3, 0.6
RISK_LABELS = {
    "sla_breach": "Misses the promised date (SLA breach)",
    "churn": "Customer churns",
    "supplier_delay": "Supplier delivers late",
}


def waterfall(expl: BackorderExplanation) -> list[dict[str, Any]]:
    """One step per component: where its bar starts and ends (USD), and its feature parts."""
    steps, running = [], 0.0
    for c in expl.components:
        start, running = running, running + c.usd
        steps.append(
            {
                "name": c.name,
                "label": c.label,
                "usd": c.usd,
                "start": start,
                "end": running,
                "risk": c.risk,
                "exposure": c.exposure,
                "factor": c.factor,
                "model": c.model,
                "model_version": c.model_version,
                "parts": [
                    {
                        "label": p.label,
                        "value": None
                        if p.value is None
                        else reason_text.format_value(p.feature, p.value),
                        "usd": p.usd,
                        "imputed": p.flag is not None,
                    }
                    for p in c.parts
                ],
            }
        )
    return steps


def _eta(snapshot: Any, po_line: Any) -> dict[str, Any]:
    eta = ((snapshot.inputs or {}).get("eta") if snapshot is not None else None) or None
    if eta:
        return {
            "p50": date.fromisoformat(eta["p50"]),
            "p90": date.fromisoformat(eta["p90"]),
            "source": "risk model (supplier delay quantiles)",
        }
    if po_line is not None and po_line.current_eta is not None:
        return {"p50": po_line.current_eta, "p90": None, "source": "supplier's current ETA"}
    return {"p50": None, "p90": None, "source": "unknown: no PO line or no ETA"}


@router.get("/{backorder_id}")
def backorder(
    request: Request, backorder_id: IdParam, session: SessionDep, user: Reader
) -> Response:
    """The detail page (readable without JavaScript; the chart repeats the table)."""
    found = repo.detail(session=session, backorder_id=backorder_id)
    if found is None:
        raise NotFoundError(f"there is no backorder with id {backorder_id}")
    explanation, explain_error = None, None
    try:
        explanation = explain_backorder(session, backorder_id, store=request.app.state.sessions)
    except AppError as exc:
        explain_error = exc.message
    snap = found.snapshot
    risks = []
    if snap is not None:
        for key, value in (
            ("sla_breach", snap.p_sla_breach),
            ("churn", snap.p_churn),
            ("supplier_delay", snap.p_supplier_delay),
        ):
            risks.append({"key": key, "label": RISK_LABELS[key], "value": value})
    recommendations = sorted(
        (
            r
            for r in recs_repo.for_backorder(session=session, backorder_id=backorder_id)
            if r.status != "superseded"
        ),
        key=lambda r: (r.rank, r.id),
    )
    context = {
        "d": found,
        "b": found.row.backorder,
        "explanation": explanation,
        "explain_error": explain_error,
        "steps": waterfall(explanation) if explanation else [],
        "risks": risks,
        "gauge_low": GAUGE_LOW,
        "gauge_high": GAUGE_HIGH,
        "eta": _eta(snap, found.po_line),
        "recommendations": [rec_view(session, r, user) for r in recommendations],
        "neighbours": repo.neighbours(session=session, backorder=found.row.backorder),
        "decisions": DECISIONS,
    }
    response = render(request, "backorder.html", context, user=user)
    session.rollback()  # a read (explanations computed on the way were stored on their own)
    return response


@router.get("/{backorder_id}/compare")
def compare(
    request: Request,
    backorder_id: IdParam,
    session: SessionDep,
    user: Reader,
    vs: Annotated[str, Query(min_length=1, max_length=64)],
) -> Response:
    """Why one backorder ranks above the other: component and feature differences (USD)."""
    key = vs.strip()
    other = int(key) if key.isdigit() and int(key) <= MAX_INT else None
    if other is None:
        other = repo.id_by_number(session=session, number=key)
    if other is None:
        raise NotFoundError(f"there is no backorder {key!r} to compare with", field="vs")
    if other == backorder_id:
        return RedirectResponse(f"/dashboard/backorders/{backorder_id}", status_code=303)
    result = contrast(session, backorder_id, other, store=request.app.state.sessions)
    higher, lower = (result.a, result.b) if result.difference >= 0 else (result.b, result.a)
    response = render(
        request, "compare.html", {"c": result, "higher": higher, "lower": lower}, user=user
    )
    session.rollback()  # a read (explanations computed on the way were stored on their own)
    return response
