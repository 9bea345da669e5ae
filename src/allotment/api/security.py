"""Access tokens (JWT, HS256 only) and the key they are signed with.

A token carries ``sub`` (the user name), ``role``, ``iat`` and ``exp``. Decoding accepts HS256
and nothing else (no ``none``, no algorithm confusion), requires every claim, checks expiry, and
the caller re-checks the role against the database, so a demoted or disabled user's old tokens
stop working at once.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from allotment.config import Settings
from allotment.db.types import utcnow
from allotment.errors import AppError
from allotment.users.errors import CredentialsInvalidError
from allotment.users.roles import Role

ALGORITHM = "HS256"
# 256 bits, the HMAC-SHA256 block-size-independent recommendation (RFC 7518 §3.2).
MIN_SECRET_LENGTH = 32
SECRET_FILE = "jwt_secret"
# Values copied from templates and tutorials: refused outside local/test whatever their length.
PLACEHOLDER_SECRETS = frozenset(
    {"changethis", "change-me", "changeme", "secret", "your-secret-key", "placeholder", ""}
)


class SecretMissingError(AppError):
    """No usable JWT signing key: the service refuses to start (outside local/test)."""

    status_code = 500
    code = "secret_missing"


def _is_placeholder(value: str) -> bool:
    return value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH


def signing_key(settings: Settings) -> str:
    """The HS256 key: the configured secret, or in local/test a per-data-folder random one.

    Raises
    ------
    SecretMissingError
        ``environment`` is production and ``ALLOTMENT_JWT_SECRET`` is missing or a placeholder.
    """
    configured = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    if settings.environment == "production":
        if configured is None or _is_placeholder(configured):
            raise SecretMissingError(
                "ALLOTMENT_JWT_SECRET is missing or a placeholder: in production set it to a"
                f" random value of at least {MIN_SECRET_LENGTH} characters"
                ' (e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")',
                field="jwt_secret",
            )
        return configured
    if configured:
        return configured
    return _local_secret(settings.data_dir / SECRET_FILE)


def _local_secret(path: Path) -> str:
    """Read the data folder's secret, creating it once (atomically: several workers may race)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)  # fails if another process won the race; then use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of an access token."""

    subject: str
    role: str
    expires_at: datetime


def create_access_token(
    *, subject: str, role: Role, key: str, minutes: int, now: datetime | None = None
) -> str:
    """A signed HS256 token for ``subject`` valid for ``minutes`` minutes."""
    now = now or utcnow()
    claims = {
        "sub": subject,
        "role": role.value,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode_access_token(token: str, *, key: str) -> TokenClaims:
    """Verify signature (HS256 only), expiry and required claims; else 401."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "role", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise CredentialsInvalidError("the access token has expired") from None
    except jwt.PyJWTError:
        raise CredentialsInvalidError("the access token is not valid") from None
    subject, role = claims.get("sub"), claims.get("role")
    if not isinstance(subject, str) or not isinstance(role, str):
        raise CredentialsInvalidError("the access token is not valid")
    return TokenClaims(
        subject=subject,
        role=role,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
    )
