"""Errors on dashboard pages are pages too: what went wrong, in words, never a stack trace.

The API's handlers stay in charge of everything else (JSON, one shape); for a dashboard path
these handlers render the error page instead, and send a browser without a session to sign in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from allotment.errors import AppError
from allotment.web.deps import LoginRequiredError
from allotment.web.render import is_htmx, render

log = logging.getLogger("allotment.web")

#: Paths that are dashboard pages (everything else keeps the API's JSON errors).
WEB_PREFIXES = ("/dashboard",)
WEB_PATHS = frozenset({"/", "/login", "/logout"})

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]

_TITLES = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not possible here",
    409: "Not possible right now",
    413: "Too much at once",
    422: "Something needs fixing",
    503: "Not available right now",
}


def is_web_path(path: str) -> bool:
    return path in WEB_PATHS or any(path == p or path.startswith(p + "/") for p in WEB_PREFIXES)


def _login_redirect(request: Request, message: str) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.headers.get("HX-Current-URL") or "/"
    url = f"/login?next={quote(target, safe='')}"
    if is_htmx(request):
        # htmx follows HX-Redirect with a full page load instead of swapping the login form in.
        return Response(status_code=200, headers={"HX-Redirect": url})
    response = RedirectResponse(url, status_code=303)
    return response


def error_page(request: Request, status: int, message: str, field: str | None = None) -> Response:
    """The error page (a fragment for htmx) with the status and what to do."""
    from allotment.web.deps import session_user

    user = None
    if status not in (401, 500):
        # The navigation, if the browser has a valid session (never fails the error page).
        sessions = request.app.state.read_sessions
        try:
            with sessions() as session:
                user = session_user(request, session)
        except Exception:
            user = None
    title = _TITLES.get(status, HTTPStatus(status).phrase if status < 500 else "Something broke")
    return render(
        request,
        "_error.html" if is_htmx(request) else "error.html",
        {
            "status": status,
            "title": title,
            "message": message,
            "field": field,
            "back": _referer_path(request),
        },
        user=user,
        status_code=status,
    )


def _referer_path(request: Request) -> str | None:
    """The page the browser came from, when it is a dashboard page of this site."""
    referer = request.headers.get("referer") or ""
    parsed = urlsplit(referer)
    if parsed.netloc != request.url.netloc or not is_web_path(parsed.path):
        return None
    if parsed.path == request.url.path and request.method == "GET":
        return None  # the failing page itself
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def _field(loc: tuple[object, ...] | list[object]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "cookie")]
    return ".".join(parts) or None


def install(app: FastAPI) -> None:
    """Wrap the app's handlers: dashboard paths get error pages, the rest what it had."""
    previous: dict[type[Exception] | int, Handler] = dict(app.exception_handlers)

    def delegate(kind: type[Exception]) -> Handler:
        return previous[kind]

    async def app_error(request: Request, exc: Exception) -> Response:
        if not is_web_path(request.url.path):
            return await _call(delegate(AppError), request, exc)
        assert isinstance(exc, AppError)
        if isinstance(exc, LoginRequiredError):
            return _login_redirect(request, exc.message)
        if exc.status_code >= 500:
            log.error("%s: %s", type(exc).__name__, exc.message)
        field = exc.details.get("field")
        return error_page(
            request, exc.status_code, exc.message, field if isinstance(field, str) else None
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        if not is_web_path(request.url.path):
            return await _call(delegate(RequestValidationError), request, exc)
        assert isinstance(exc, RequestValidationError)
        problems = []
        for err in exc.errors():
            field = _field(err.get("loc", ()))
            msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            problems.append(f"{field.replace('_', ' ')}: {msg}" if field else msg)
        return error_page(request, 422, "; ".join(problems) or "the request is not valid")

    async def http_error(request: Request, exc: Exception) -> Response:
        if not is_web_path(request.url.path):
            return await _call(delegate(StarletteHTTPException), request, exc)
        assert isinstance(exc, StarletteHTTPException)
        messages = {
            404: "There is no such page. Use the navigation above or go to the command center.",
            405: "This address does not take that kind of request.",
        }
        phrase = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if exc.detail and exc.detail != phrase else None
        return error_page(request, exc.status_code, detail or messages.get(exc.status_code, phrase))

    async def unexpected(request: Request, exc: Exception) -> Response:
        if not is_web_path(request.url.path):
            return await _call(delegate(Exception), request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_page(
            request,
            500,
            "Something went wrong on our side. It has been logged; please try again, and tell"
            " the administrator if it keeps happening.",
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    got = handler(request, exc)
    if isinstance(got, Awaitable):
        return await got
    return got
