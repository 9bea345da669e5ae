"""Who is looking: the session cookie's user, the page's permission, the form's CSRF token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request

from allotment.api import authz
from allotment.api.deps import Principal, SessionDep, principal_from_token
from allotment.errors import AppError
from allotment.users.errors import CredentialsInvalidError, PermissionDeniedError
from allotment.web.session import CSRF_FIELD, SESSION_COOKIE, csrf_for, csrf_matches


class LoginRequiredError(AppError):
    """No (valid) session: the dashboard sends the browser to the sign-in page."""

    status_code = 401
    code = "login_required"


class CsrfTokenInvalidError(AppError):
    """A form without this session's CSRF token: refused, nothing changed."""

    status_code = 403
    code = "csrf_token_invalid"


@dataclass(frozen=True)
class WebUser:
    """The signed-in user and the CSRF token their forms carry."""

    principal: Principal
    csrf: str

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def role(self) -> str:
        return self.principal.role.value

    def may(self, permission: str) -> bool:
        """Whether the authorization table lets this user's role do ``permission``."""
        return authz.allowed(permission, self.principal.role)


def session_user(request: Request, session: SessionDep) -> WebUser:
    """The cookie's user (re-read from the database), else :class:`LoginRequiredError`."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequiredError("sign in to see this page")
    key: str = request.app.state.signing_key
    try:
        principal = principal_from_token(session, token, key=key)
    except CredentialsInvalidError as exc:
        raise LoginRequiredError(f"sign in again: {exc.message}") from None
    return WebUser(principal=principal, csrf=csrf_for(token, key=key))


SessionUser = Annotated[WebUser, Depends(session_user)]


class Page:
    """Dependency of a page: the signed-in user, if their role holds ``permission``; else 403."""

    def __init__(self, permission: str) -> None:
        if permission not in authz.AUTHORIZATION:
            raise KeyError(f"permission {permission!r} is not in the authorization table")
        self.permission = permission

    def check(self, user: WebUser) -> WebUser:
        if not user.may(self.permission):
            thing, verb = self.permission.split(":", 1)
            raise PermissionDeniedError(
                f"your role ({user.role.replace('_', ' ')}) may not {verb} {thing}"
                " (ask an administrator if you need to)",
                permission=self.permission,
            )
        return user

    def __call__(self, user: SessionUser) -> WebUser:
        return self.check(user)


class Action(Page):
    """Dependency of a form POST: as :class:`Page`, and the form's CSRF token must match."""

    def __call__(  # type: ignore[override]
        self,
        user: SessionUser,
        csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
    ) -> WebUser:
        if not csrf_matches(csrf_token, user.csrf):
            raise CsrfTokenInvalidError(
                "this form is out of date or did not come from this site: reload the page and"
                " try again"
            )
        return self.check(user)


def page(permission: str) -> Page:
    """``Annotated[WebUser, Depends(page("backorders:read"))]`` in a page's signature."""
    return Page(permission)


def action(permission: str) -> Action:
    """The same for a form that changes something (checks the CSRF token)."""
    return Action(permission)
