"""Models: champions and challengers of each risk model with their metrics and oracle ratio."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from allotment.web.deps import WebUser, page
from allotment.web.render import render

router = APIRouter(prefix="/dashboard/models", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("models:read"))]


@router.get("")
def models(request: Request, user: Reader) -> Response:
    """Every registered version per model, the champion first (the registry's own metrics)."""
    from mlflow.exceptions import MlflowException

    from allotment.modeling import registry

    error = None
    groups: dict[str, list[Any]] = {}
    try:
        rows = registry.list_models()
    except MlflowException as exc:
        error = f"The model registry cannot be read right now: {exc.message}"
        rows = []
    for row in rows:
        groups.setdefault(row.name, []).append(row)
    for versions in groups.values():
        versions.sort(key=lambda r: (registry.CHAMPION not in r.aliases, -r.version))
    return render(
        request,
        "models.html",
        {"groups": groups, "error": error, "champion": registry.CHAMPION},
        user=user,
    )
