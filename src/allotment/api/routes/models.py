"""The model registry as the service sees it: versions, champions, headline metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from mlflow.exceptions import MlflowException

from allotment.api.deps import Principal, require
from allotment.api.errors import responses
from allotment.api.schemas.system import ChampionRead, ModelRead
from allotment.errors import ModelUnavailableError, NotFoundError
from allotment.modeling import registry
from allotment.modeling.registry import CHAMPION, MODEL_NAMES

router = APIRouter(prefix="/models", tags=["models"])

Reader = Annotated[Principal, Depends(require("models:read"))]


def _rows() -> list[ModelRead]:
    try:
        rows = registry.list_models()
    except MlflowException as exc:
        raise ModelUnavailableError(f"model registry unavailable: {exc.message}") from None
    return [
        ModelRead(
            name=row.name,
            version=row.version,
            aliases=list(row.aliases),
            champion=CHAMPION in row.aliases,
            auc=row.auc,
            oracle_auc=row.oracle_auc,
            auc_oracle_ratio=row.auc_oracle_ratio,
            ece=row.ece,
            created=row.created,
            run_id=row.run_id,
        )
        for row in rows
    ]


@router.get(
    "",
    response_model=list[ModelRead],
    responses=responses(401, 403, 503),
    summary="Registered model versions and their metrics",
)
def list_models(_user: Reader) -> list[ModelRead]:
    """Every registered version (newest first per model), champions flagged."""
    return _rows()


@router.get(
    "/champions",
    response_model=list[ChampionRead],
    responses=responses(401, 403, 503),
    summary="The champion serving each risk model, with its metrics",
)
def champions(_user: Reader) -> list[ChampionRead]:
    """One row per risk model; ``champion`` is null where none is promoted yet."""
    found = {m.name: m for m in _rows() if m.champion}
    return [
        ChampionRead(task=task.value, name=name, champion=found.get(name))
        for task, name in MODEL_NAMES.items()
    ]


@router.get(
    "/{name}",
    response_model=list[ModelRead],
    responses=responses(401, 403, 404, 422, 503),
    summary="The registered versions of one model and their metrics",
)
def model_versions(
    name: Annotated[str, Path(max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")],
    _user: Reader,
) -> list[ModelRead]:
    """Versions of ``name``, newest first (404 when nothing is registered under it)."""
    rows = [r for r in _rows() if r.name == name]
    if not rows:
        raise NotFoundError(f"no model registered as {name!r}", field="name")
    return rows
