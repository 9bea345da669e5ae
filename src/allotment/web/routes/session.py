"""Sign in, sign out, and ``/`` (the command center, after signing in)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from allotment.api import security
from allotment.api.deps import SessionDep, SettingsDep
from allotment.users import service as users
from allotment.users.errors import CredentialsInvalidError
from allotment.web.deps import WebUser, action
from allotment.web.render import render
from allotment.web.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    csrf_matches,
    new_login_csrf,
    safe_next,
    set_cookie,
)

router = APIRouter(include_in_schema=False)

#: Pages anyone may open (the sign-in form); every other page declares a permission.
PUBLIC_PAGES = frozenset({"/", "/login"})
_LOGIN_CSRF_SECONDS = 3600


@router.get("/")
def home() -> Response:
    """The command center (its page sends a browser without a session to sign in first)."""
    return RedirectResponse("/dashboard", status_code=303)


def _login_form(
    request: Request, *, next_: str, error: str | None = None, name: str = "", status: int = 200
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = render(
        request,
        "login.html",
        {"next": safe_next(next_), "error": error, "name": name, "login_csrf": token},
        status_code=status,
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, _LOGIN_CSRF_SECONDS)
    return response


@router.get("/login")
def login_form(
    request: Request, next_: Annotated[str | None, Query(alias="next", max_length=2000)] = None
) -> Response:
    """The sign-in form."""
    return _login_form(request, next_=next_ or "/dashboard")


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=120)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str | None, Form()] = None,
    next_: Annotated[str | None, Form(alias="next", max_length=2000)] = None,
) -> Response:
    """Check the name and password; on success set the session cookie and go on."""
    target = safe_next(next_ or "/dashboard")
    if not csrf_matches(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE) or ""):
        return _login_form(
            request,
            next_=target,
            name=username,
            error="The sign-in form had expired. Please try again.",
            status=403,
        )
    try:
        user = users.authenticate(session, name=username, password=password)
    except CredentialsInvalidError:
        return _login_form(
            request,
            next_=target,
            name=username,
            error="That user name and password do not match an active user.",
            status=401,
        )
    token = security.create_access_token(
        subject=user.name,
        role=user.role,
        key=request.app.state.signing_key,
        minutes=settings.access_token_minutes,
    )
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, token, settings.access_token_minutes * 60)
    clear_cookie(response, request, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, _user: Annotated[WebUser, Depends(action("me:read"))]) -> Response:
    """Sign out (the form carries the CSRF token, so another site cannot sign you out)."""
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response
