"""Errors of the users domain and of authentication (rendered by the service's one handler)."""

from __future__ import annotations

from allotment.errors import AppError, NotFoundError


class CredentialsInvalidError(AppError):
    """Missing, wrong, expired or revoked credentials, or a disabled user (HTTP 401)."""

    status_code = 401
    code = "credentials_invalid"


class PermissionDeniedError(AppError):
    """An authenticated user whose role the authorization table does not allow (HTTP 403)."""

    status_code = 403
    code = "permission_denied"


class UserNotFoundError(NotFoundError):
    code = "user_not_found"


class UserExistsError(AppError):
    status_code = 409
    code = "user_exists"


class UserInvalidError(AppError):
    """A user that cannot be created as asked (bad name, short password)."""

    status_code = 422
    code = "user_invalid"
