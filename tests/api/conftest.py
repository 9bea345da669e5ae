"""The service on the test database (SQLite and PostgreSQL), with a private model store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from allotment.api import security
from allotment.api.app import create_app
from allotment.config import get_settings
from allotment.domain.enums import PolicyStatus
from allotment.domain.models import PolicyVersion, ScoreRun, ScoreSnapshot, User
from allotment.users.roles import Role
from tests import factories
from tests.users.conftest import fast_password_hashing  # noqa: F401 (autouse)


@pytest.fixture(scope="session")
def _mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One empty model store for the API tests (creating an MLflow database takes ~10 s)."""
    return f"sqlite:///{tmp_path_factory.mktemp('api-mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _shared_model_store(_mlflow_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", _mlflow_store)
    get_settings.cache_clear()


@pytest.fixture
def app(engine: Engine) -> Iterator[FastAPI]:
    application = create_app()
    yield application
    application.state.engine.dispose()


@pytest.fixture
def offline_app() -> Iterator[FastAPI]:
    """The app on the default (never migrated) SQLite file: for what needs no database."""
    application = create_app()
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def token_for(app: FastAPI, user: User, **kwargs: Any) -> str:
    settings = get_settings()
    return security.create_access_token(
        subject=user.name,
        role=kwargs.pop("role", user.role),
        key=app.state.signing_key,
        minutes=kwargs.pop("minutes", settings.access_token_minutes),
        **kwargs,
    )


def bearer(app: FastAPI, user: User, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, user, **kwargs)}"}


@pytest.fixture
def planner(session: Session) -> User:
    user: User = factories.user(session, role=Role.PLANNER)
    session.commit()
    return user


@pytest.fixture
def headers(app: FastAPI, planner: User) -> dict[str, str]:
    return bearer(app, planner)


def assert_error(body: Any, error: str, field: str | None = None) -> None:
    """Every error has exactly the three keys, and no stack trace."""
    assert set(body) == {"error", "detail", "field"}, body
    assert body["error"] == error, body
    assert body["field"] == field, body
    assert "Traceback" not in str(body["detail"])


def score(
    session: Session,
    backorder_id: int,
    *,
    p_churn: float | None = None,
    p_sla_breach: float | None = None,
    priority: float = 100.0,
) -> ScoreSnapshot:
    """A score snapshot of one backorder (its run and a policy version made as needed)."""
    policy = session.query(PolicyVersion).first()
    if policy is None:
        policy = PolicyVersion(
            name="test",
            version=1,
            status=PolicyStatus.DRAFT,
            document={},
            checksum="0" * 64,
            author="test",
        )
        session.add(policy)
        session.flush()
    run = ScoreRun(trigger="test", policy_version_id=policy.id, model_versions={}, as_of=None)
    session.add(run)
    session.flush()
    snap = ScoreSnapshot(
        run_id=run.id,
        backorder_id=backorder_id,
        scored_at=datetime(2025, 2, 1, tzinfo=UTC),
        policy_version_id=policy.id,
        model_versions={"allotment-churn": 1},
        p_supplier_delay=0.2,
        p_sla_breach=p_sla_breach,
        p_churn=p_churn,
        components={"sla": priority * 0.75, "value": priority * 0.25},
        priority=priority,
        degraded=False,
        flags=[],
        feature_digests={},
        inputs={},
    )
    session.add(snap)
    session.flush()
    return snap


def committed_user(session: Session, role: Role) -> User:
    """A user of ``role``, committed so that the app's own sessions see it."""
    user: User = factories.user(session, role=role)
    session.commit()
    return user
