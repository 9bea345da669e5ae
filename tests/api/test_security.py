"""Tokens and API keys: what authenticates, what is refused (401), and the signing key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from allotment.api import security
from allotment.config import Settings
from allotment.domain.models import ApiKey, User
from allotment.users import service as users
from allotment.users.roles import Role
from tests import factories
from tests.api.conftest import assert_error, bearer, token_for

ME = "/api/v1/auth/me"


def _refused(client: TestClient, headers: dict[str, str]) -> str:
    response = client.get(ME, headers=headers)
    assert response.status_code == 401, response.text
    assert_error(response.json(), "CredentialsInvalidError")
    return str(response.json()["detail"])


def test_password_flow_issues_a_token_that_authenticates(
    client: TestClient, session: Session
) -> None:
    users.create_user(session, name="ann", role=Role.SUPERVISOR, password="correct horse battery")
    session.commit()
    response = client.post(
        "/api/v1/auth/token", data={"username": "ann", "password": "correct horse battery"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    me = client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"name": "ann", "role": "supervisor", "via": "token"}
    wrong = client.post("/api/v1/auth/token", data={"username": "ann", "password": "nope"})
    assert wrong.status_code == 401
    assert_error(wrong.json(), "CredentialsInvalidError")
    unknown = client.post("/api/v1/auth/token", data={"username": "bob", "password": "nope"})
    assert unknown.json()["detail"] == wrong.json()["detail"]  # no user enumeration


def test_expired_wrong_algorithm_and_tampered_tokens_are_refused(
    app: FastAPI, client: TestClient, planner: User
) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    assert "expired" in _refused(client, bearer(app, planner, now=long_ago, minutes=60))

    claims = {
        "sub": planner.name,
        "role": planner.role.value,
        "iat": int(datetime.now(UTC).timestamp()),
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }
    for algorithm in ("none", "HS512"):
        key: str = "" if algorithm == "none" else app.state.signing_key
        _refused(
            client, {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}
        )
    no_expiry = {k: v for k, v in claims.items() if k != "exp"}
    unexpiring = jwt.encode(no_expiry, app.state.signing_key, algorithm="HS256")
    _refused(client, {"Authorization": f"Bearer {unexpiring}"})

    header, payload, signature = token_for(app, planner).split(".")
    # Claim to be an admin, keeping the planner's signature.
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"planner"', b'"admin"')
    ).decode()
    _refused(client, {"Authorization": f"Bearer {header}.{forged}.{signature}"})
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    _refused(client, {"Authorization": f"Bearer {header}.{payload}.{flipped}"})
    other_key = security.create_access_token(
        subject=planner.name, role=planner.role, key="x" * 40, minutes=5
    )
    _refused(client, {"Authorization": f"Bearer {other_key}"})
    assert client.get(ME, headers=bearer(app, planner)).status_code == 200


def test_disabled_user_and_changed_role_are_refused(
    app: FastAPI, client: TestClient, session: Session, planner: User
) -> None:
    headers = bearer(app, planner)
    assert client.get(ME, headers=headers).status_code == 200
    planner.role = Role.ADMIN
    session.commit()
    assert "role has changed" in _refused(client, headers)
    planner.role = Role.PLANNER
    users.disable_user(session, name=planner.name)
    session.commit()
    _refused(client, headers)


def test_api_key_authenticates_until_revoked(
    client: TestClient, session: Session, planner: User
) -> None:
    issued = users.issue_api_key(session, name=planner.name)
    session.commit()
    response = client.get(ME, headers={"X-API-Key": issued.secret})
    assert response.json() == {"name": planner.name, "role": "planner", "via": "api_key"}
    session.refresh(issued.key)
    assert issued.key.last_used_at is not None
    assert issued.secret.split("_")[-1] not in issued.key.secret_hash  # only a hash is stored
    _refused(client, {"X-API-Key": issued.secret[:-1] + ("x" if issued.secret[-1] != "x" else "y")})
    _refused(client, {"X-API-Key": "not-a-key"})
    users.revoke_api_key(session, prefix=issued.key.prefix)
    session.commit()
    assert "revoked" in _refused(client, {"X-API-Key": issued.secret})


def test_api_key_of_a_disabled_user_is_refused(client: TestClient, session: Session) -> None:
    robot = factories.user(session, name="erp-connector", role=Role.PLANNER)
    issued = users.issue_api_key(session, name=robot.name)
    robot.active = False
    session.commit()
    _refused(client, {"X-API-Key": issued.secret})
    assert session.query(ApiKey).count() == 1


def test_production_refuses_a_missing_or_placeholder_secret(tmp_path: Path) -> None:
    for secret in (None, "changethis", "short"):
        settings = Settings(
            environment="production",
            data_dir=tmp_path,
            jwt_secret=SecretStr(secret) if secret is not None else None,
        )
        with pytest.raises(security.SecretMissingError, match="ALLOTMENT_JWT_SECRET"):
            security.signing_key(settings)
    good = "k" * 48
    assert (
        security.signing_key(
            Settings(environment="production", data_dir=tmp_path, jwt_secret=SecretStr(good))
        )
        == good
    )
    assert not (tmp_path / security.SECRET_FILE).exists()


def test_local_secret_is_generated_once_per_data_folder(tmp_path: Path) -> None:
    first = security.signing_key(Settings(environment="local", data_dir=tmp_path / "a"))
    again = security.signing_key(Settings(environment="local", data_dir=tmp_path / "a"))
    other = security.signing_key(Settings(environment="local", data_dir=tmp_path / "b"))
    assert first == again != other
    assert len(first) >= security.MIN_SECRET_LENGTH
    assert (tmp_path / "a" / security.SECRET_FILE).stat().st_mode & 0o077 == 0
