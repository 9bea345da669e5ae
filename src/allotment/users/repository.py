"""SQL for users and API keys. Keyword-only, typed; never commits (the caller does)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain.models import ApiKey, User
from allotment.users.errors import UserNotFoundError


def find_user(*, session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).one_or_none()


def get_user(*, session: Session, name: str) -> User:
    user = find_user(session=session, name=name)
    if user is None:
        raise UserNotFoundError(f"user {name!r} does not exist", field="name")
    return user


def get_user_by_id(*, session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def list_users(*, session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.name)).all()


def add(*, session: Session, row: User | ApiKey) -> None:
    session.add(row)
    session.flush()


def find_api_key(*, session: Session, prefix: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()


def find_api_key_user(*, session: Session, prefix: str) -> tuple[ApiKey, User | None] | None:
    """The key with ``prefix`` and its user, in one round trip (every API-key request)."""
    found = session.execute(
        select(ApiKey, User)
        .outerjoin(User, User.id == ApiKey.user_id)
        .where(ApiKey.prefix == prefix)
    ).one_or_none()
    return None if found is None else (found[0], found[1])


def api_keys_of(*, session: Session, user_id: int) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)
    ).all()
