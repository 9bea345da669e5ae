"""``GET /backorders/{id}/explain[?vs=other]``: why a backorder ranks where it does.

Its own router (same prefix as the backorder routes) so explanation, which loads models and
computes attributions, stays apart from the queue's reads and writes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from allotment.api.deps import Principal, SessionDep, require
from allotment.api.errors import responses
from allotment.api.schemas.common import MAX_INT
from allotment.api.schemas.explanations import ExplanationRead, FeatureDifference
from allotment.domain.models import Backorder
from allotment.errors import NotFoundError

router = APIRouter(prefix="/backorders", tags=["backorders"])

Reader = Annotated[Principal, Depends(require("backorders:read"))]


@router.get(
    "/{backorder_id}/explain",
    response_model=ExplanationRead,
    responses=responses(401, 403, 404, 409, 422, 503),
    summary="Why a backorder ranks where it does (or above another)",
)
def explain(
    request: Request,
    backorder_id: Annotated[int, Path(ge=1, le=MAX_INT)],
    session: SessionDep,
    _user: Reader,
    vs: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="Another backorder to compare with.")
    ] = None,
) -> ExplanationRead:
    """Components and feature attributions in USD; 404 when never scored."""
    from allotment.scoring.explanation import contrast, explain_backorder

    # Attributions computed on a cache miss are stored in a write transaction of their own.
    store = request.app.state.sessions
    if vs is None:
        # Its 404 names backorder_id, as the check below does.
        return ExplanationRead(backorder=explain_backorder(session, backorder_id, store=store))
    for field, bid in (("backorder_id", backorder_id), ("vs", vs)):
        if session.get(Backorder, bid) is None:
            raise NotFoundError(f"backorder {bid} does not exist", field=field)
    both = contrast(session, backorder_id, vs, store=store)
    return ExplanationRead(
        backorder=both.a,
        vs=both.b,
        difference=both.difference,
        component_differences=both.components,
        feature_differences=[
            FeatureDifference(component=c, feature=f, usd=v) for c, f, v in both.features
        ],
    )
