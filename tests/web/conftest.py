"""The dashboard on the test database: a prepared world, signed-in TestClients per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from allotment.api.app import create_app
from tests.api.conftest import _mlflow_store, _shared_model_store  # noqa: F401 (fixtures)
from tests.users.conftest import fast_password_hashing  # noqa: F401 (autouse)
from tests.web import world as prepared
from tests.web.browser import chromium  # noqa: F401 (fixture)
from tests.web.world import PASSWORD, World


@pytest.fixture
def world(session: Session) -> World:
    built = prepared.build(session)
    session.commit()
    return built


@pytest.fixture
def app(world: World) -> Iterator[FastAPI]:
    application = create_app()
    yield application
    application.state.engine.dispose()


def sign_in(
    app: FastAPI, name: str, password: str = PASSWORD, *, raise_server_exceptions: bool = True
) -> TestClient:
    """A browser-like client signed in as ``name`` (cookies kept, redirects followed)."""
    client = TestClient(
        app, base_url="http://127.0.0.1", raise_server_exceptions=raise_server_exceptions
    )
    form = client.get("/login")
    assert form.status_code == 200
    token = client.cookies.get("allotment_login_csrf")
    got = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token, "next": "/dashboard"},
        follow_redirects=False,
    )
    assert got.status_code == 303, got.text
    return client


@pytest.fixture
def as_role(app: FastAPI, world: World):  # type: ignore[no-untyped-def]
    """``as_role("planner")`` -> a client signed in as that role's user."""

    def make(role: str) -> TestClient:
        return sign_in(app, world.users[role])

    return make
