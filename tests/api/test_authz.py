"""Deny by default: every route x method x role gets exactly the authorization table's answer."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from allotment.api import authz
from allotment.api.app import (
    API_PREFIX,
    RouteUnprotectedError,
    api_routes,
    check_protected,
    route_permission,
)
from allotment.users.roles import Role
from allotment.web.mount import page_permission, web_routes
from tests import factories
from tests.api.conftest import assert_error, bearer


def _operations() -> list[tuple[str, str, str]]:
    """(method, concrete path, permission) of every protected operation."""
    ops: list[tuple[str, str, str]] = []
    for full_path, route in api_routes():
        if full_path in authz.PUBLIC_PATHS:
            continue
        permission = route_permission(route)
        assert permission is not None, full_path
        path = re.sub(r"\{[^}]+\}", "1", full_path)
        ops.extend((method, path, permission) for method in sorted(route.methods or ()))
    return ops


def test_every_route_role_and_method_gets_the_tables_answer(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    users = {role: factories.user(session, role=role) for role in Role}
    session.commit()
    ops = _operations()
    assert len(ops) >= 6
    # No dead rows: every permission guards an API route or a dashboard page (tests/web).
    used = {p for _, _, p in ops} | {page_permission(r) for r in web_routes()} - {None}
    assert used == set(authz.AUTHORIZATION)
    for method, path, permission in ops:
        anonymous = client.request(method, path)
        assert anonymous.status_code == 401, (method, path)
        assert_error(anonymous.json(), "CredentialsInvalidError")
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        for role, user in users.items():
            got = client.request(method, path, headers=bearer(app, user)).status_code
            if role in authz.AUTHORIZATION[permission]:
                assert got not in (401, 403), (method, path, role, got)
            else:
                assert got == 403, (method, path, role, got)


def test_every_api_route_is_under_the_version_prefix(offline_app: FastAPI) -> None:
    paths = set(offline_app.openapi()["paths"])
    assert paths == {path for path, _ in api_routes()}
    assert {p for p in paths if not p.startswith(API_PREFIX + "/")} == {"/health", "/ready"}


def test_an_unprotected_route_refuses_to_build() -> None:
    router = APIRouter()

    @router.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(RouteUnprotectedError, match="forgotten"):
        check_protected(api_routes([(API_PREFIX, router)]))


@pytest.mark.parametrize("role", list(Role))
def test_allowed_answers_the_table(role: Role) -> None:
    for permission, roles in authz.AUTHORIZATION.items():
        assert authz.allowed(permission, role) == (role in roles)
    assert not authz.allowed("no:such-permission", role)
