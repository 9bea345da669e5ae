"""The dashboard's session cookie and CSRF tokens.

The session cookie carries the same JWT the API issues (HttpOnly: scripts cannot read it;
SameSite=Strict: other sites' pages cannot make the browser send it). CSRF tokens are stateless:
for a signed-in user the token is an HMAC of their session token under the signing key, so it
changes with every sign-in and cannot be computed without the key; the sign-in form itself uses a
double-submit pair (a random cookie and the same value in the form).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "allotment_session"
LOGIN_CSRF_COOKIE = "allotment_login_csrf"
CSRF_FIELD = "csrf_token"


def csrf_for(session_token: str, *, key: str) -> str:
    """The CSRF token of a session (hex HMAC-SHA256 of the session token)."""
    return hmac.new(key.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison; a missing token never matches."""
    return bool(presented) and hmac.compare_digest(str(presented), expected)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    """An HttpOnly, SameSite=Strict cookie for the whole site (Secure over HTTPS)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
