"""Put the dashboard into the app: its routers, the vendored static files, its error pages."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from allotment.errors import AppError
from allotment.web import errors
from allotment.web.deps import Page
from allotment.web.render import STATIC_DIR
from allotment.web.routes import (
    allocation,
    approvals,
    backorder,
    command,
    models,
    outreach,
    policy,
    queue,
    session,
)

#: The dashboard's routers (walked by the deny-by-default check and the tests).
ROUTERS: tuple[APIRouter, ...] = (
    session.router,
    command.router,
    queue.router,
    backorder.router,
    approvals.router,
    outreach.router,
    allocation.router,
    policy.router,
    models.router,
)


class PageUnprotectedError(AppError):
    """A dashboard page that declares no permission: deny by default refuses to build."""

    status_code = 500
    code = "page_unprotected"


def web_routes(routers: Iterable[APIRouter] = ROUTERS) -> list[APIRoute]:
    return [r for router in routers for r in router.routes if isinstance(r, APIRoute)]


def page_permission(route: APIRoute) -> str | None:
    """The permission a page declares through ``page(...)`` or ``action(...)``."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, Page):
            return dependant.call.permission
        stack.extend(dependant.dependencies)
    return None


def check_protected(routes: Iterable[APIRoute]) -> None:
    """Refuse a page outside :data:`session.PUBLIC_PAGES` (and the sign-in POST) without one."""
    public = session.PUBLIC_PAGES
    for route in routes:
        if route.path in public or (route.path == "/login" and "POST" in (route.methods or ())):
            continue
        if page_permission(route) is None:
            raise PageUnprotectedError(
                f"page {sorted(route.methods or ())} {route.path} declares no permission;"
                " add page(...)/action(...) and a row in allotment.api.authz.AUTHORIZATION"
            )


def install(app: FastAPI) -> None:
    """Mount the dashboard on ``app`` (after the API's error handlers are installed)."""
    check_protected(web_routes())
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
