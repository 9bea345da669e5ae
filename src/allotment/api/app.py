"""The application factory: ``create_app()`` (uvicorn: ``allotment.api.app:create_app``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from allotment import __version__
from allotment.api import authz, errors, security
from allotment.api.deps import Require
from allotment.api.middleware import BodySizeLimit
from allotment.api.routes import (
    allocations,
    approvals,
    audit,
    auth,
    backorders,
    events,
    explanations,
    insights,
    models,
    notifications,
    outreach,
    policies,
    recommendations,
    system,
)
from allotment.config import Settings, get_settings
from allotment.db.engine import make_engine, make_sessionmaker
from allotment.errors import AppError
from allotment.web import mount as web

API_PREFIX = "/api/v1"


class RouteUnprotectedError(AppError):
    """A route under /api/v1 that declares no permission: deny by default refuses to build."""

    status_code = 500
    code = "route_unprotected"


# (prefix, router): what the app mounts; walked by the deny-by-default check and the tests.
ROUTERS: tuple[tuple[str, APIRouter], ...] = (
    ("", system.router),
    (API_PREFIX, auth.router),
    (API_PREFIX, backorders.router),
    (API_PREFIX, models.router),
    (API_PREFIX, audit.router),
    (API_PREFIX, notifications.router),
    (API_PREFIX, recommendations.router),
    (API_PREFIX, approvals.router),
    (API_PREFIX, events.router),
    (API_PREFIX, explanations.router),
    (API_PREFIX, insights.router),
    (API_PREFIX, allocations.router),
    (API_PREFIX, policies.router),
    (API_PREFIX, outreach.router),
)


def api_routes(
    routers: Iterable[tuple[str, APIRouter]] = ROUTERS,
) -> list[tuple[str, APIRoute]]:
    """(full path, route) of every operation the routers declare."""
    return [
        (prefix + route.path, route)
        for prefix, router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]


def route_permission(route: APIRoute) -> str | None:
    """The permission a route declares through ``require(...)`` (searched in its dependencies)."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, Require):
            return dependant.call.permission
        stack.extend(dependant.dependencies)
    return None


def check_protected(routes: Iterable[tuple[str, APIRoute]]) -> None:
    """Refuse a route outside :data:`~allotment.api.authz.PUBLIC_PATHS` without a permission."""
    for path, route in routes:
        if path not in authz.PUBLIC_PATHS and route_permission(route) is None:
            raise RouteUnprotectedError(
                f"route {sorted(route.methods or ())} {path} declares no permission;"
                " add require(...) and a row in allotment.api.authz.AUTHORIZATION"
            )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service: routers, error handlers, body limit, engine and session factories.

    Raises
    ------
    SecretMissingError
        Outside local/test without a real ``ALLOTMENT_JWT_SECRET``.
    """
    settings = settings or get_settings()
    signing_key = security.signing_key(settings)
    engine = make_engine(settings=settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Allotment",
        version=__version__,
        summary="Explained backorder prioritization and allocation.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.signing_key = signing_key
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.read_sessions = make_sessionmaker(engine, readonly=True)

    check_protected(api_routes())
    for prefix, router in ROUTERS:
        app.include_router(router, prefix=prefix)
    errors.install(app)
    web.install(app)  # the dashboard: pages, vendored static files, HTML error pages
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
