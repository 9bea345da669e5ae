"""OAuth2 password flow: exchange a user name and password for a bearer token; who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from allotment.api import security
from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.schemas.system import MeRead, TokenRead
from allotment.users import service as users

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenRead,
    responses=responses(401, 413, 422),
    summary="Sign in (OAuth2 password flow)",
)
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> TokenRead:
    """A bearer token (JWT, HS256) for an active user's name and password."""
    user = users.authenticate(session, name=form.username, password=form.password)
    token = security.create_access_token(
        subject=user.name,
        role=user.role,
        key=request.app.state.signing_key,
        minutes=settings.access_token_minutes,
    )
    return TokenRead(
        access_token=token, token_type="bearer", expires_in=settings.access_token_minutes * 60
    )


@router.get("/me", response_model=MeRead, responses=responses(401, 403), summary="Who is calling")
def me(user: Annotated[Principal, Depends(require("me:read"))]) -> MeRead:
    """The authenticated caller's name and role."""
    return MeRead(name=user.name, role=user.role, via=user.via)
