"""Users services: create, authenticate by password or API key, issue and revoke keys, disable.

Services flush; the caller (CLI command, API request) commits or rolls back.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from allotment.db.types import utcnow
from allotment.domain.models import ApiKey, User
from allotment.users import repository as repo
from allotment.users.errors import CredentialsInvalidError, UserExistsError, UserInvalidError
from allotment.users.roles import Role

# argon2id with the library's defaults (RFC 9106 "low memory" profile: t=3, m=64 MiB, p=4).
_HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 12
API_KEY_SCHEME = "alk"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,119}$")
_KEY = re.compile(rf"^{API_KEY_SCHEME}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{20,100}})$")
# last_used_at is a hint for audits, not a log: write it at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist: a wrong name costs as long as a wrong
    password, so response times do not reveal which names exist."""
    return _HASHER.hash("not a real password")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; always spends one argon2 verification."""
    try:
        matched = _HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


def generate_password() -> str:
    """A random password (about 128 bits) for ``users add`` without one."""
    return secrets.token_urlsafe(16)


def create_user(
    session: Session, *, name: str, role: Role, password: str | None, at: datetime | None = None
) -> User:
    """Add a user; ``password`` None makes an API-key-only (machine) user."""
    if not _NAME.match(name):
        raise UserInvalidError(
            f"user name {name!r} must be 1-120 letters, digits or . _ @ -", field="name"
        )
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise UserInvalidError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if repo.find_user(session=session, name=name) is not None:
        raise UserExistsError(f"user {name!r} already exists", field="name")
    user = User(
        name=name,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        active=True,
        created_at=at or utcnow(),
    )
    repo.add(session=session, row=user)
    return user


def authenticate(session: Session, *, name: str, password: str) -> User:
    """The active user with this name and password, else :class:`CredentialsInvalidError`."""
    # A name that cannot exist is not looked up (PostgreSQL refuses NUL characters in text).
    user = repo.find_user(session=session, name=name) if _NAME.match(name) else None
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise CredentialsInvalidError("wrong user name or password")
    return user


def disable_user(session: Session, *, name: str) -> User:
    """Disable a user: their tokens and API keys stop working on the next request."""
    user = repo.get_user(session=session, name=name)
    user.active = False
    session.flush()
    return user


@dataclass(frozen=True)
class IssuedKey:
    """A new API key; ``secret`` is the full key, shown once and never stored."""

    key: ApiKey
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(session: Session, *, name: str, at: datetime | None = None) -> IssuedKey:
    """A new API key for an active user (prints once; only its prefix and hash are stored)."""
    user = repo.get_user(session=session, name=name)
    if not user.active:
        raise UserInvalidError(f"user {name!r} is disabled", field="name")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        user_id=user.id, prefix=prefix, secret_hash=_digest(secret), created_at=at or utcnow()
    )
    repo.add(session=session, row=key)
    return IssuedKey(key=key, secret=f"{API_KEY_SCHEME}_{prefix}_{secret}")


def revoke_api_key(session: Session, *, prefix: str, at: datetime | None = None) -> ApiKey:
    key = repo.find_api_key(session=session, prefix=prefix)
    if key is None:
        raise CredentialsInvalidError(f"no API key with prefix {prefix!r}", field="prefix")
    if key.revoked_at is None:
        key.revoked_at = at or utcnow()
        session.flush()
    return key


def resolve_api_key(session: Session, *, presented: str) -> tuple[User, ApiKey]:
    """The active user behind a presented key, else :class:`CredentialsInvalidError`."""
    match = _KEY.match(presented)
    found = repo.find_api_key_user(session=session, prefix=match.group(1)) if match else None
    if match is None or found is None:
        raise CredentialsInvalidError("unknown API key")
    key, user = found
    if not hmac.compare_digest(key.secret_hash, _digest(match.group(2))):
        raise CredentialsInvalidError("unknown API key")
    if key.revoked_at is not None:
        raise CredentialsInvalidError("this API key has been revoked")
    if user is None or not user.active:
        raise CredentialsInvalidError("the user of this API key is disabled")
    return user, key


def touch_api_key(session: Session, *, key_id: int, at: datetime | None = None) -> None:
    """Record that a key was used (at most once per :data:`LAST_USED_RESOLUTION`)."""
    at = at or utcnow()
    key = session.get(ApiKey, key_id)
    if key is not None and (
        key.last_used_at is None or at - key.last_used_at >= LAST_USED_RESOLUTION
    ):
        key.last_used_at = at
        session.flush()
