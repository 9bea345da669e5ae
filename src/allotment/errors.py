"""One error hierarchy: every expected failure is an ``AppError`` with an HTTP status."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every error the application raises on purpose.

    ``status_code`` is the HTTP status the service renders; ``code`` is a stable machine name.
    """

    status_code: int = 400
    code: str = "app_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFoundError(AppError):
    status_code = 404
    code = "not_found"


class BackorderTransitionError(AppError):
    """A backorder status change the lifecycle does not allow."""

    status_code = 409
    code = "backorder_transition_invalid"


class BackorderCreationError(AppError):
    status_code = 422
    code = "backorder_creation_invalid"


class ImportValidationError(AppError):
    """A file failed validation; ``problems`` lists every (file, row, column, reason)."""

    status_code = 422
    code = "import_invalid"

    def __init__(self, message: str, problems: list[dict[str, Any]]) -> None:
        super().__init__(message, problems=problems)
        self.problems = problems


class ImportMappingError(AppError):
    status_code = 422
    code = "import_mapping_invalid"


class WorldConfigError(AppError):
    status_code = 422
    code = "world_config_invalid"


class DatabaseNotReadyError(AppError):
    status_code = 503
    code = "database_not_ready"


class ModelUnavailableError(AppError):
    """No servable model: no champion, or the registry/artifact store cannot be read."""

    status_code = 503
    code = "model_unavailable"


class ModelSignatureError(AppError):
    """A registered model's input signature does not match the features we compute."""

    status_code = 409
    code = "model_signature_mismatch"


class ModelPromotionRefusedError(AppError):
    """The promotion gate (or a missing ``--force`` reason) refused a promotion or rollback."""

    status_code = 409
    code = "model_promotion_refused"

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message, reasons=list(reasons or []))
        self.reasons = list(reasons or [])


class FeatureDataError(AppError):
    """The database does not hold the history a feature frame needs."""

    status_code = 422
    code = "feature_data_missing"
