"""Request dependencies as ``Annotated`` aliases: ``SessionDep``, ``CurrentUser``, ``require``.

The request owns the transaction: its session commits when the route returns and rolls back when
it raises, before the response is sent (``scope="function"``), so a client never sees a success
whose write was lost. Safe methods (GET, HEAD) read through a non-locking SQLite transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker

from allotment.api import authz, security
from allotment.config import Settings
from allotment.db.types import utcnow
from allotment.users import repository as users_repo
from allotment.users import service as users
from allotment.users.errors import CredentialsInvalidError, PermissionDeniedError
from allotment.users.roles import Role

TOKEN_URL = "/api/v1/auth/token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: commit on success, roll back on any error."""
    state = request.app.state
    factory: sessionmaker[Session] = (
        state.read_sessions if request.method in _SAFE_METHODS else state.sessions
    )
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user (re-read from the database on every request) and how."""

    user_id: int
    name: str
    role: Role
    via: str  # "token" or "api_key"


def _touch_key(request: Request, key_id: int) -> None:
    # In its own short write transaction: a GET's read-only session never upgrades to a write.
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session, session.begin():
        users.touch_api_key(session, key_id=key_id)


def get_current_user(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The authenticated caller (API key or bearer token), else 401."""
    if api_key:
        user, key = users.resolve_api_key(session, presented=api_key)
        if key.last_used_at is None or (utcnow() - key.last_used_at >= users.LAST_USED_RESOLUTION):
            if request.method in _SAFE_METHODS:
                _touch_key(request, key.id)
            else:
                # A write request already holds SQLite's write lock: a second transaction
                # would wait on it until the busy timeout. Touch within the request's own.
                users.touch_api_key(session, key_id=key.id)
        return Principal(user_id=user.id, name=user.name, role=user.role, via="api_key")
    if not token:
        raise CredentialsInvalidError("not authenticated: send a bearer token or an X-API-Key")
    return principal_from_token(session, token, key=request.app.state.signing_key)


def principal_from_token(session: Session, token: str, *, key: str) -> Principal:
    """The token's user, re-read from the database (disabled or re-roled users: 401).

    Shared by the API (bearer header) and the dashboard (session cookie).
    """
    claims = security.decode_access_token(token, key=key)
    found = users_repo.find_user(session=session, name=claims.subject)
    if found is None or not found.active:
        raise CredentialsInvalidError("the token's user does not exist or is disabled")
    if found.role.value != claims.role:
        raise CredentialsInvalidError("the user's role has changed: sign in again")
    return Principal(user_id=found.id, name=found.name, role=found.role, via="token")


CurrentUser = Annotated[Principal, Depends(get_current_user)]


class Require:
    """Dependency: the caller, if their role holds ``permission`` in the table; else 403."""

    def __init__(self, permission: str) -> None:
        if permission not in authz.AUTHORIZATION:
            raise KeyError(f"permission {permission!r} is not in the authorization table")
        self.permission = permission

    def __call__(self, user: CurrentUser) -> Principal:
        if not authz.allowed(self.permission, user.role):
            raise PermissionDeniedError(
                f"role {user.role.value!r} may not do {self.permission!r}",
                permission=self.permission,
            )
        return user


def require(permission: str) -> Require:
    """``Annotated[Principal, Depends(require("backorders:read"))]`` in a route's signature."""
    return Require(permission)
