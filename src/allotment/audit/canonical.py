"""Canonical JSON: one text per value, whatever the backend it went through.

The audit hash and the policy checksum are computed over this text, so it must not change when a
value is written to SQLite or PostgreSQL and read back: keys sorted, no whitespace, UTF-8,
datetimes as ISO-8601 strings in UTC, dates as ISO strings, Decimals as strings (exact; never a
float), enums as their value, tuples and sets as lists. Non-finite floats and naive datetimes are
refused: neither has one meaning that survives a round trip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

from pydantic import BaseModel


def normalize(value: Any) -> Any:
    """Turn ``value`` into plain JSON data (dict, list, str, int, float, bool, None).

    Parameters
    ----------
    value
        Any mix of mappings, sequences, sets, pydantic models, dataclasses, enums, Decimals,
        datetimes (timezone-aware) and dates.

    Returns
    -------
    Any
        The same content as JSON-ready data; :func:`json.loads` of :func:`canonical_json` of the
        result gives the result back unchanged.

    Raises
    ------
    ValueError
        A naive datetime, a non-finite float, or a mapping key that is not a string or enum.
    TypeError
        A value of a type with no canonical JSON form.
    """
    if isinstance(value, Enum):
        return normalize(value.value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} has no canonical JSON form")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite number {value!r} has no canonical JSON form")
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass an aware datetime (UTC)")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID | PurePath):
        return str(value)
    if isinstance(value, BaseModel):
        return normalize(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return normalize(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, Enum):
                key = key.value
            if not isinstance(key, str):
                raise ValueError(f"mapping key {key!r} is not a string")
            out[key] = normalize(item)
        return out
    if isinstance(value, set | frozenset):
        items = [normalize(v) for v in value]
        return sorted(items, key=canonical_json)
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (see the module docstring for the rules)."""
    return normalized_json(normalize(value))


def normalized_json(data: Any) -> str:
    """:func:`canonical_json` of data :func:`normalize` already returned (not normalized again:
    normalizing its output changes nothing)."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_hex(text: str) -> str:
    """sha256 of ``text`` (UTF-8) as 64 lowercase hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
