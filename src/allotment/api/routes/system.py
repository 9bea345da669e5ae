"""``/health`` (the process answers) and ``/ready`` (database, migrations, champion models)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from allotment.api.schemas.system import HealthRead, ModelReadiness, ReadyRead
from allotment.db import migrate
from allotment.errors import ModelSignatureError, ModelUnavailableError
from allotment.features.frame import Task
from allotment.features.registry import feature_kinds
from allotment.modeling import registry

router = APIRouter(tags=["system"])
log = logging.getLogger("allotment.api")


@router.get("/health", response_model=HealthRead, summary="The process is up")
async def health() -> HealthRead:
    """Answers as long as the process serves requests; touches nothing else."""
    return HealthRead(status="ok")


def _model(task: Task) -> ModelReadiness:
    try:
        loaded = registry.load_champion(task, feature_kinds(task))
    except (ModelUnavailableError, ModelSignatureError) as exc:
        return ModelReadiness(
            task=task.value, loaded=False, name=None, version=None, problem=exc.message
        )
    return ModelReadiness(
        task=task.value, loaded=True, name=loaded.name, version=loaded.version, problem=None
    )


@router.get(
    "/ready",
    response_model=ReadyRead,
    responses={503: {"model": ReadyRead, "description": "The database cannot serve."}},
    summary="Database reachable, schema at head, which champion models load",
)
def ready(request: Request) -> ReadyRead | JSONResponse:
    """``ready``, ``degraded`` (listing the models that fall back to rules) or 503."""
    engine: Engine = request.app.state.engine
    problems: list[str] = []
    current = head = None
    database = False
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = True
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if current != head:
            problems.append(f"database schema at {current}, expected {head}: allotment db upgrade")
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("readiness: database unreachable: %s", exc)
        problems.append(f"database unreachable: {type(exc).__name__}")
    models = [_model(task) for task in Task]
    missing = [m.task for m in models if not m.loaded]
    healthy = database and current == head
    body = ReadyRead(
        status="unavailable" if not healthy else ("degraded" if missing else "ready"),
        database=database,
        migration=current,
        migration_head=head,
        models=models,
        missing_models=missing,
        problems=problems,
    )
    if not healthy:
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return body
