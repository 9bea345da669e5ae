"""The one settings object. Nothing else in the package reads the environment."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Relative defaults resolve against the working directory, so a command run from the repository
# root keeps its state in ./var and ./models, and a test can point everything elsewhere.
DEFAULT_DATA_DIR = Path("var")
DEFAULT_MODELS_DIR = Path("models")

#: Where ``allotment notify`` can deliver notifications (``ALLOTMENT_NOTIFY_SINKS``).
NOTIFY_SINKS = ("log", "webhook", "smtp")


class Settings(BaseSettings):
    """Runtime settings, read from ``ALLOTMENT_*`` environment variables (or a ``.env`` file)."""

    model_config = SettingsConfigDict(
        env_prefix="ALLOTMENT_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Folder for local state.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file allotment.db in the data folder.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow store; default: a SQLite file under ./models/."
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    # --- the service (allotment serve) ---
    environment: Literal["local", "test", "production"] = Field(
        default="local",
        description="local/test may generate a JWT secret; production must be given one.",
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 signing key for access tokens (>= 32 characters outside local/test).",
    )
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # Largest request body the service reads (bytes); a batch of 1,000 events fits in 1 MiB.
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    max_page_size: int = Field(default=200, ge=1)

    # --- notifications (allotment notify) ---
    # Comma-separated sinks every notification is enqueued for: log, webhook, smtp.
    notify_sinks: Annotated[tuple[str, ...], NoDecode] = Field(default=("log",))
    notify_log_path: Path | None = Field(
        default=None, description="JSON-lines file; default: <data dir>/notifications.jsonl."
    )
    notify_webhook_url: str | None = Field(default=None, description="HTTP(S) URL to POST to.")
    notify_webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_smtp_host: str = "localhost"
    notify_smtp_port: int = Field(default=25, ge=1, le=65_535)
    notify_smtp_from: str = "allotment@localhost"
    notify_smtp_starttls: bool = False
    notify_smtp_username: str | None = None
    notify_smtp_password: SecretStr | None = None
    notify_smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    # Addresses of recipients by name, e.g. {"role:supervisor": "supervisors@example.com"}
    # (JSON); a recipient that is itself an address needs no entry.
    notify_addresses: dict[str, str] = Field(default_factory=dict)
    # Where SMTP sends what has no address of its own (None: such a notification is dead).
    notify_smtp_default_to: str | None = None
    # Deliveries: attempts before a notification is dead, and the exponential backoff (seconds).
    notify_max_attempts: int = Field(default=8, ge=1)
    notify_backoff_seconds: float = Field(default=30.0, ge=0)
    notify_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    # A delivery claims a notification for this long; a worker killed mid-delivery loses it then.
    notify_lease_seconds: float = Field(default=300.0, gt=0)

    @field_validator("notify_sinks", mode="before")
    @classmethod
    def _split_sinks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip().lower() for v in value.split(",") if v.strip())
        return value

    @field_validator("notify_sinks")
    @classmethod
    def _known_sinks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in NOTIFY_SINKS]
        if unknown:
            raise ValueError(
                f"unknown notification sink(s) {', '.join(unknown)};"
                f" known: {', '.join(NOTIFY_SINKS)}"
            )
        if not value:
            raise ValueError(f"name at least one notification sink: {', '.join(NOTIFY_SINKS)}")
        return tuple(dict.fromkeys(value))

    @property
    def resolved_notify_log_path(self) -> Path:
        """The JSON-lines file the ``log`` sink appends to."""
        return self.notify_log_path or self.data_dir / "notifications.jsonl"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r}")
        return upper

    @property
    def resolved_database_url(self) -> str:
        """The database URL, with the embedded SQLite default filled in."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'allotment.db').resolve()}"

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI, kept apart from the application database."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(DEFAULT_MODELS_DIR / 'mlflow.db').resolve()}"


def normalize_database_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs to psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
