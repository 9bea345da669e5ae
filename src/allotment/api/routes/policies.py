"""Policies: list and show versions, preview a draft (what-if), activate (admin only)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from allotment.api.deps import Principal, SessionDep, require
from allotment.api.errors import responses
from allotment.api.schemas.common import MAX_INT, NO_NUL
from allotment.api.schemas.policies import (
    PolicyActivate,
    PolicyDetail,
    PolicyVersionRead,
    PolicyWhatIf,
)
from allotment.domain.models import PolicyVersion
from allotment.errors import AppError
from allotment.policy import service
from allotment.policy.schema import Policy
from allotment.scoring.whatif import WhatIf

router = APIRouter(prefix="/policies", tags=["policies"])

Reader = Annotated[Principal, Depends(require("policies:read"))]
Previewer = Annotated[Principal, Depends(require("policies:whatif"))]
Activator = Annotated[Principal, Depends(require("policies:activate"))]


class PolicyWhatIfOverflowError(AppError):
    """A draft whose weights or multipliers make priorities overflow."""

    status_code = 422
    code = "policy_whatif_overflow"


def _detail(row: PolicyVersion, document: Policy) -> PolicyDetail:
    return PolicyDetail(**PolicyVersionRead.model_validate(row).model_dump(), document=document)


@router.get(
    "",
    response_model=list[PolicyVersionRead],
    responses=responses(401, 403, 422),
    summary="Stored policy versions, newest first",
)
def list_policies(
    session: SessionDep,
    _user: Reader,
    name: Annotated[str | None, Query(max_length=120, pattern=NO_NUL)] = None,
) -> list[PolicyVersionRead]:
    """Every stored version (of one ``name``), newest first."""
    return [PolicyVersionRead.model_validate(r) for r in service.list_policies(session, name=name)]


@router.get(
    "/active",
    response_model=PolicyDetail,
    responses=responses(401, 403, 422),
    summary="The active policy and its document",
)
def active_policy(session: SessionDep, _user: Reader) -> PolicyDetail:
    """The active version (the shipped default is installed if none is)."""
    row, document = service.active_policy(session)
    return _detail(row, document)


@router.get(
    "/{policy_version_id}",
    response_model=PolicyDetail,
    responses=responses(401, 403, 404, 422),
    summary="One stored policy version and its document",
)
def get_policy(
    policy_version_id: Annotated[int, Path(ge=1, le=MAX_INT)], session: SessionDep, _user: Reader
) -> PolicyDetail:
    """A version by id, with its document."""
    row, document = service.get_policy(session, policy_version_id=policy_version_id)
    return _detail(row, document)


@router.post(
    "/whatif",
    response_model=WhatIf,
    responses=responses(401, 403, 409, 413, 422),
    summary="Preview a draft policy on the current backlog (nothing is stored)",
)
def preview_policy(body: PolicyWhatIf, session: SessionDep, _user: Previewer) -> WhatIf:
    """The re-ranked queue, who moved and why, rank correlation, money shifted between tiers."""
    from allotment.scoring.service import exposures_of
    from allotment.scoring.whatif import scoring_day, what_if

    result = what_if(
        session,
        draft=body.document,
        active=service.active_policy(session),
        exposures_of=exposures_of,
        as_of=scoring_day(session),
        head=body.head,
        top_movers=body.movers,
    )
    session.rollback()  # a preview: whatever the reads touched is not kept
    numbers = [m.new_priority for m in result.queue] + [
        v for t in result.tiers for v in (t.new_priority_share, t.new_head_value)
    ]
    if not all(math.isfinite(v) for v in numbers):
        raise PolicyWhatIfOverflowError(
            "the draft's weights or multipliers make priorities overflow", field="document"
        )
    return replace(result, queue=result.queue[: body.queue])


@router.post(
    "/activate",
    response_model=PolicyDetail,
    responses=responses(401, 403, 404, 409, 413, 422),
    summary="Make a stored version or a new document the active policy (admin)",
)
def activate(body: PolicyActivate, session: SessionDep, user: Activator) -> PolicyDetail:
    """Retire the active version and activate this one, audited with the reason."""
    row = service.activate(
        session,
        policy_version_id=body.policy_version_id,
        document=body.document,
        actor=user.name,
        role=user.role.value,
        reason=body.reason,
    )
    return _detail(row, service.policy_of(row))
