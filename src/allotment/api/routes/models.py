"""The model registry as the service sees it: versions, champions, headline metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from mlflow.exceptions import MlflowException

from allotment.api.deps import Principal, require
from allotment.api.errors import responses
from allotment.api.schemas.system import ModelRead
from allotment.errors import ModelUnavailableError
from allotment.modeling import registry
from allotment.modeling.registry import CHAMPION

router = APIRouter(prefix="/models", tags=["models"])


@router.get(
    "",
    response_model=list[ModelRead],
    responses=responses(401, 403, 503),
    summary="Registered model versions and their metrics",
)
def list_models(_user: Annotated[Principal, Depends(require("models:read"))]) -> list[ModelRead]:
    """Every registered version (newest first per model), champions flagged."""
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
