"""``allotment serve``: run the HTTP service with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import typer
import uvicorn
from sqlalchemy.engine import make_url

from allotment.api import security
from allotment.cli.common import app_errors, ensure_schema
from allotment.config import get_settings
from allotment.db.engine import is_sqlite, make_engine

WORKER_STARTUP_SECONDS = 120


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
) -> None:
    """Serve the API (docs at /docs); migrates the database first."""
    # Several workers are safe on SQLite too: WAL lets readers run beside the one writer, and
    # every write transaction begins IMMEDIATE with a busy timeout, so writers from different
    # processes queue instead of failing. Migrations and the local JWT secret are settled here,
    # once, before the workers start.
    settings = get_settings()
    url = settings.resolved_database_url
    if workers > 1 and is_sqlite(url) and make_url(url).database in (None, "", ":memory:"):
        raise typer.BadParameter(
            "an in-memory SQLite database cannot be shared by several workers",
            param_hint="--workers",
        )
    with app_errors():
        security.signing_key(settings)  # refuse to start without a usable secret
        engine = make_engine(settings=settings)
        try:
            ensure_schema(engine)
        finally:
            engine.dispose()
    uvicorn.run(
        "allotment.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        # A spawned worker re-imports the CLI (pandas, LightGBM, MLflow: seconds on a busy
        # machine) before it can answer the supervisor's ping; uvicorn's default 5 s kills it.
        timeout_worker_healthcheck=WORKER_STARTUP_SECONDS,
    )
