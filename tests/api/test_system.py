"""Health, readiness, the error shape for protocol errors and bugs, and the OpenAPI document."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from allotment.api.app import api_routes, create_app
from allotment.api.authz import PUBLIC_PATHS
from allotment.api.deps import SessionDep
from allotment.config import Settings
from allotment.domain.models import User
from allotment.errors import BackorderTransitionError
from allotment.users.roles import Role
from tests.api.conftest import assert_error


def test_health_and_ready_degraded_without_models(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    response = client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"] is True and body["migration"] == body["migration_head"]
    assert sorted(body["missing_models"]) == ["churn", "sla_breach", "supplier_delay"]
    assert all("no champion" in m["problem"] for m in body["models"])


def test_protocol_errors_and_bugs_share_the_error_shape(
    offline_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    app = offline_app

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    client = TestClient(app, raise_server_exceptions=False)
    assert_error(client.get("/api/v1/nowhere").json(), "NotFound")
    wrong_method = client.delete("/api/v1/backorders")
    assert wrong_method.status_code == 405
    assert_error(wrong_method.json(), "MethodNotAllowed")
    with caplog.at_level(logging.ERROR, logger="allotment.api"):
        crashed = client.get("/boom")
    assert crashed.status_code == 500
    assert_error(crashed.json(), "InternalServerError")
    assert "secret internals" not in crashed.text
    assert "secret internals" in caplog.text  # logged for us, not sent to the client


def test_openapi_documents_every_error_a_route_can_return(offline_app: FastAPI) -> None:
    app = offline_app
    paths = app.openapi()["paths"]
    for path, route in api_routes():
        for method in route.methods or ():
            documented = set(paths[path][method.lower()]["responses"])
            if path not in PUBLIC_PATHS:
                assert {"401", "403"} <= documented, (method, path)
            if route.dependant.path_params or route.dependant.query_params:
                assert "422" in documented, (method, path)
            if route.dependant.body_params:
                assert {"413", "422"} <= documented, (method, path)
    schemes = app.openapi()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"oauth2", "apiKey"}


def test_ready_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/nothing")
    app = create_app(settings)
    try:
        response = TestClient(app).get("/ready")
    finally:
        app.state.engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"] is False
    assert body["problems"] == ["database unreachable: OperationalError"]


def test_the_request_commits_on_success_and_rolls_back_on_error(
    app: FastAPI, session: Session
) -> None:
    @app.post("/write/{name}")
    def write(name: str, db: SessionDep) -> None:
        db.add(User(name=name, role=Role.PLANNER, active=True))
        db.flush()
        if name == "failing":
            raise BackorderTransitionError("refused after a write")

    client = TestClient(app)
    assert client.post("/write/kept").status_code == 200
    failed = client.post("/write/failing")
    assert failed.status_code == 409
    assert_error(failed.json(), "BackorderTransitionError")
    assert [u.name for u in session.query(User)] == ["kept"]
