"""One JSON shape for every error: ``{"error": Name, "detail": ..., "field": ...}``.

``error`` is the exception's class name for application errors (``BackorderTransitionError``),
``RequestValidationError`` for bad input, and the HTTP reason without spaces (``NotFound``,
``MethodNotAllowed``, ``ContentTooLarge``) for protocol errors. ``field`` names the offending
field (a dotted path into the body, or the query/path parameter), else null. A bug is logged
with its traceback and answered with a 500 of the same shape that reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from allotment.errors import AppError
from allotment.users.errors import CredentialsInvalidError

log = logging.getLogger("allotment.api")

# Fields a client may never set; naming one gets a 422 that says so (see schemas).
SERVER_OWNED_FIELDS = frozenset(
    {
        "id",
        "number",
        "status",
        "priority",
        "approvals",
        "value_at_risk",
        "amount",
        "amounts",
        "open_quantity",
        "allocation_status",
        "created_at",
        "created_by",
        "updated_at",
        "closed_at",
    }
)


#: FastAPI's detail for a body it cannot decode.
_UNPARSABLE_BODY = "There was an error parsing the body"


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(extra="forbid")

    error: str
    detail: Any
    field: str | None = None


def error_json(
    status: int, error: str, detail: Any, field: str | None = None, **headers: str
) -> JSONResponse:
    body = ErrorBody(error=error, detail=detail, field=field).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=headers or None)


_DESCRIPTIONS = {
    401: "Missing, invalid or expired credentials.",
    403: "The caller's role is not allowed to do this.",
    404: "No such resource.",
    409: "The request conflicts with the resource's state.",
    413: "The request body is too large.",
    422: "Invalid input; `field` names the offending field.",
    503: "A dependency (database, model) is unavailable.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route: each status documented with the error shape."""
    return {
        s: {"model": ErrorBody, "description": _DESCRIPTIONS.get(s, HTTPStatus(s).phrase)}
        for s in statuses
    }


def http_error_name(status: int) -> str:
    """``NotFound``, ``MethodNotAllowed``, ``ContentTooLarge`` (RFC 9110 names) for a status."""
    if status == 413:  # Python 3.11 still says "Request Entity Too Large" (RFC 7231)
        return "ContentTooLarge"
    return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")


def _field_path(loc: Sequence[Any]) -> str | None:
    if len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int):
        return None  # a JSON decode error: ("body", character position), no field
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts) or None


def _validation_detail(err: dict[str, Any], field: str | None) -> str:
    name = field.rsplit(".", 1)[-1] if field else None
    if err.get("type") == "extra_forbidden" and name in SERVER_OWNED_FIELDS:
        return f"{name!r} is set by the server and cannot be given"
    if err.get("type") == "extra_forbidden":
        return f"unknown field {name!r}"
    return str(err.get("msg", "invalid value"))


def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    field = exc.details.get("field")
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, CredentialsInvalidError) else {}
    if exc.status_code >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return error_json(
        exc.status_code,
        type(exc).__name__,
        exc.message,
        field if isinstance(field, str) else None,
        **headers,
    )


def _anonymous_on_protected(request: Request) -> bool:
    """No credentials at all on a route that needs them."""
    from allotment.api import authz  # the table imports the roles; keep this module light

    if request.headers.get("authorization") or request.headers.get("x-api-key"):
        return False
    return request.url.path.startswith("/api/") and request.url.path not in authz.PUBLIC_PATHS


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI parses the body before it authenticates: without credentials, say so first
    # rather than describe the input of an operation the caller may not use.
    if _anonymous_on_protected(request):
        return _unauthenticated()
    errors = list(exc.errors())
    if not errors:
        return error_json(422, "RequestValidationError", "invalid request")
    first = errors[0]
    field = _field_path(first.get("loc", ()))
    detail = _validation_detail(first, field)
    if len(errors) > 1:
        others = [_field_path(e.get("loc", ())) or "request" for e in errors[1:]]
        detail = f"{detail} (also invalid: {', '.join(others)})"
    return error_json(422, "RequestValidationError", detail, field)


def _unauthenticated() -> JSONResponse:
    return error_json(
        401,
        CredentialsInvalidError.__name__,
        "not authenticated: send a bearer token or an X-API-Key",
        **{"WWW-Authenticate": "Bearer"},
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        # FastAPI's answer to a body it cannot decode (bytes that are not UTF-8 JSON): bad
        # input like any other, so the documented 422 (or the 401 that comes first).
        if _anonymous_on_protected(request):
            return _unauthenticated()
        return error_json(422, "RequestValidationError", "the body is not valid UTF-8 JSON")
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail and exc.detail != phrase else phrase.lower()
    headers = dict(exc.headers or {})
    return error_json(exc.status_code, http_error_name(exc.status_code), detail, **headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_json(500, "InternalServerError", "internal error; it has been logged")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
