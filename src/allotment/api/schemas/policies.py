"""Policy bodies: stored versions, a draft's what-if, activation."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from allotment.api.schemas.common import MAX_INT, RequestBody
from allotment.domain.enums import PolicyStatus
from allotment.policy.schema import Policy


class PolicyVersionRead(BaseModel):
    """A stored policy version (its document only in the detail)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    version: int
    status: PolicyStatus
    checksum: str
    author: str
    reason: str | None
    created_at: datetime
    effective_from: datetime | None
    retired_at: datetime | None


class PolicyDetail(PolicyVersionRead):
    document: Policy


def _problem(value: Any, path: str) -> str | None:
    """The dotted path of the first non-finite number or NUL character in ``value``, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path}: numbers must be finite"
    if isinstance(value, str) and "\x00" in value:
        return f"{path}: text must not contain NUL characters"
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return f"{path}: keys must not contain NUL characters"
        found = _problem(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


class _WithDocument(RequestBody):
    @field_validator("document", mode="before", check_fields=False)
    @classmethod
    def _strict(cls, value: Any) -> Any:
        # A stored document must survive JSON on both backends; and validated strictly, as a
        # JSON document (true is not 1.0, "5" is not 5), whatever the lax defaults.
        if value is None:
            return value
        problem = _problem(value, "")
        if problem:
            raise ValueError(problem)
        try:
            return Policy.model_validate_json(json.dumps(value), strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise ValueError(f"{where}: {first['msg']}") from None


class PolicyWhatIf(_WithDocument):
    """Preview a draft policy document on the current backlog (nothing is stored)."""

    document: Policy
    head: StrictInt = Field(default=100, ge=1, le=1000, description="Length of the queue's head.")
    movers: StrictInt = Field(default=20, ge=1, le=200, description="Largest rank changes listed.")
    queue: StrictInt = Field(default=50, ge=1, le=1000, description="Re-ranked queue rows listed.")


class PolicyActivate(_WithDocument):
    """Activate a stored version (``policy_version_id``) or a new ``document``: exactly one."""

    policy_version_id: StrictInt | None = Field(default=None, gt=0, le=MAX_INT)
    document: Policy | None = None
    reason: str = Field(min_length=1, max_length=2000)
