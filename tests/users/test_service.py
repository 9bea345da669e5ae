"""Users: creation rules, password hashing, authentication, API keys, disabling."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from allotment.domain.models import User
from allotment.users import service as users
from allotment.users.errors import (
    CredentialsInvalidError,
    UserExistsError,
    UserInvalidError,
    UserNotFoundError,
)
from allotment.users.roles import Role


def test_users_are_created_with_a_hashed_password_and_authenticate(session: Session) -> None:
    made = users.create_user(session, name="ann", role=Role.MANAGER, password="correct horse 1")
    assert made.password_hash is not None and made.password_hash.startswith("$argon2id$")
    assert "correct horse" not in made.password_hash
    assert users.authenticate(session, name="ann", password="correct horse 1").id == made.id
    for name, password in (("ann", "wrong password"), ("nobody", "correct horse 1")):
        with pytest.raises(CredentialsInvalidError, match="wrong user name or password"):
            users.authenticate(session, name=name, password=password)
    users.disable_user(session, name="ann")
    with pytest.raises(CredentialsInvalidError):
        users.authenticate(session, name="ann", password="correct horse 1")


def test_creation_refuses_duplicates_bad_names_and_short_passwords(session: Session) -> None:
    users.create_user(session, name="erp", role=Role.PLANNER, password=None)
    with pytest.raises(UserExistsError):
        users.create_user(session, name="erp", role=Role.ADMIN, password=None)
    with pytest.raises(UserInvalidError) as bad_name:
        users.create_user(session, name="bad name!", role=Role.ADMIN, password=None)
    assert bad_name.value.details["field"] == "name"
    with pytest.raises(UserInvalidError) as short:
        users.create_user(session, name="bob", role=Role.ADMIN, password="short")
    assert short.value.details["field"] == "password"
    # A machine user has no password, so no password signs it in.
    with pytest.raises(CredentialsInvalidError):
        users.authenticate(session, name="erp", password="")
    with pytest.raises(UserNotFoundError):
        users.issue_api_key(session, name="ghost")
    assert session.query(User).count() == 1


def test_api_keys_resolve_to_their_user_until_revoked(session: Session) -> None:
    robot = users.create_user(session, name="erp", role=Role.PLANNER, password=None)
    first = users.issue_api_key(session, name="erp")
    second = users.issue_api_key(session, name="erp")
    assert first.secret != second.secret and first.secret.startswith("alk_")
    assert users.resolve_api_key(session, presented=first.secret)[0].id == robot.id
    users.revoke_api_key(session, prefix=first.key.prefix)
    with pytest.raises(CredentialsInvalidError, match="revoked"):
        users.resolve_api_key(session, presented=first.secret)
    assert users.resolve_api_key(session, presented=second.secret)[1].id == second.key.id
    forged = f"alk_{second.key.prefix}_{'A' * 43}"
    with pytest.raises(CredentialsInvalidError):
        users.resolve_api_key(session, presented=forged)
    users.disable_user(session, name="erp")
    with pytest.raises(UserInvalidError):
        users.issue_api_key(session, name="erp")
