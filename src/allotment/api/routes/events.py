"""Events: ``POST /events`` ingests one event or a batch of up to 1,000, idempotently."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from allotment.api.deps import Principal, SessionDep, require
from allotment.api.errors import responses
from allotment.api.schemas.events import EventResultRead, EventsIngested
from allotment.events import service
from allotment.events.schemas import EVENT_TYPES, EventBatch, EventsBody

router = APIRouter(prefix="/events", tags=["events"])

Ingester = Annotated[Principal, Depends(require("events:ingest"))]
_BODY: TypeAdapter[Any] = TypeAdapter(EventsBody)
_TAGS = frozenset({"single", "batch", *EVENT_TYPES})


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The JSON schema with its ``$defs`` references inlined (the models are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        out = {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
        if isinstance(out.get("discriminator"), dict):  # its mapping points into $defs
            out["discriminator"] = {"propertyName": out["discriminator"]["propertyName"]}
        return out
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _body_schema() -> dict[str, Any]:
    schema = _BODY.json_schema()
    return dict(_inline(schema, schema.get("$defs", {})))


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the union tags pydantic puts in a location: ``events.3.po_delayed.new_eta`` is
    reported as ``events.3.new_eta``."""
    return ("body", *(p for p in loc if not (isinstance(p, str) and p in _TAGS)))


@router.post(
    "",
    response_model=EventsIngested,
    responses=responses(401, 403, 413, 422),
    summary="Ingest one event or a batch (idempotent on event_id)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _body_schema()}},
        }
    },
)
def ingest_events(
    request: Request,
    session: SessionDep,
    user: Ingester,
    background: BackgroundTasks,
    body: Annotated[Any, Body(include_in_schema=False)] = None,
    rescore: Annotated[
        bool,
        Query(description="Re-score what the batch touched right after the response."),
    ] = True,
) -> EventsIngested:
    """Apply each event at most once: applied, duplicate, stale (an older ETA) or parked."""
    try:
        parsed = _BODY.validate_python(body)
    except ValidationError as exc:
        errors = [{**e, "loc": _clean_loc(tuple(e["loc"]))} for e in exc.errors()]
        raise RequestValidationError(errors) from None
    is_batch = isinstance(parsed, EventBatch)
    events = list(parsed.events) if is_batch else [parsed]
    result = service.ingest(session, events, actor=user.name, role=user.role.value, batch=is_batch)
    if rescore and result.rescore_queued:
        background.add_task(service.drain_soon, request.app.state.engine)
    return EventsIngested(
        results=[EventResultRead(**o.to_dict()) for o in result.outcomes],
        counts=result.counts(),
        rescore_queued=result.rescore_queued,
        rescore="scheduled" if rescore else "deferred",
    )
