"""Templates, the navigation a role sees, and pages rendered from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from allotment.web.deps import WebUser
from allotment.web.format import FILTERS
from allotment.web.session import CSRF_FIELD

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters.update(FILTERS)
templates.env.globals["CSRF_FIELD"] = CSRF_FIELD


#: Every page: scripts and styles from this site only (all vendored), never inside a frame.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    permission: str


#: The dashboard's sections, each shown only to roles that hold its permission.
NAV: tuple[NavItem, ...] = (
    NavItem("Command center", "/dashboard", "insights:read"),
    NavItem("Backorder queue", "/dashboard/queue", "backorders:read"),
    NavItem("Approvals", "/dashboard/approvals", "approvals:decide"),
    NavItem("Outreach", "/dashboard/outreach", "outreach:read"),
    NavItem("Allocation", "/dashboard/allocation", "allocations:read"),
    NavItem("Policy", "/dashboard/policy", "policies:read"),
    NavItem("Models", "/dashboard/models", "models:read"),
)


def is_htmx(request: Request) -> bool:
    """An htmx request (wants a fragment, not a whole page)."""
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: WebUser | None = None,
    status_code: int = 200,
) -> Response:
    """A page (or fragment) with the user, their navigation and the current path."""
    ctx: dict[str, Any] = {
        "user": user,
        "nav": [n for n in NAV if user is not None and user.may(n.permission)],
        "path": request.url.path,
        "htmx": is_htmx(request),
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response
