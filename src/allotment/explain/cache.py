"""Explanation cache: attributions keyed by (model name, model version, feature digest).

A model version is immutable and an attribution depends only on the model and the row's
feature values, so a cached attribution never goes stale; a new champion version simply misses.
Writes use ``INSERT … ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL), so two workers
explaining the same row at once both succeed and the first stored payload wins (they are
identical). The caller owns the transaction: this module flushes, never commits.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from allotment.domain.models import ExplanationCache
from allotment.explain.attribution import AttributionRow, ModelExplainer

_CHUNK = 500  # keys per SELECT … IN (…) and per INSERT (bind-parameter limits)


def _canonical(value: Any) -> Any:
    """A JSON-stable form: every number as a float's repr, missing as null, -0.0 as 0.0."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return ["n", repr(float(value))]
    if isinstance(value, int | float):
        x = float(value)
        if math.isnan(x):
            return None
        return ["n", repr(x + 0.0)]  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, datetime | date):
        return ["s", value.isoformat()]
    if value is pd.NA or value is pd.NaT:
        return None
    return ["s", str(value)]


def feature_digest(values: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a row's feature values in canonical form.

    Stable across processes and backends: features sorted by name; numbers as the ``repr`` of
    their float value (``3`` and ``3.0`` agree, ``-0.0`` equals ``0.0``); NaN, ``None`` and
    ``pd.NA`` are all "missing"; categories as strings (a number and its string differ).

    Parameters
    ----------
    values
        Feature name -> value of one row.

    Returns
    -------
    str
        64 hex characters.
    """
    canonical = [[str(k), _canonical(values[k])] for k in sorted(values, key=str)]
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def get_cached(
    session: Session,
    *,
    model_name: str,
    model_version: int,
    digests: Sequence[str],
    names: Sequence[str] | None = None,
) -> dict[str, AttributionRow]:
    """Cached attributions of ``digests`` (digest -> row; misses are absent).

    ``names`` fixes the feature order of the rows (the payload's order otherwise).
    """
    found: dict[str, AttributionRow] = {}
    unique = list(dict.fromkeys(digests))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        stmt = select(ExplanationCache.feature_digest, ExplanationCache.payload).where(
            ExplanationCache.model_name == model_name,
            ExplanationCache.model_version == model_version,
            ExplanationCache.feature_digest.in_(chunk),
        )
        for digest, payload in session.execute(stmt):
            found[digest] = AttributionRow.from_payload(
                payload, model_name=model_name, model_version=model_version, names=names
            )
    return found


def store(
    session: Session,
    *,
    model_name: str,
    model_version: int,
    entries: Mapping[str, Mapping[str, Any]],
) -> None:
    """Insert ``digest -> payload`` entries; a key already stored (by anyone) is left as is."""
    if not entries:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {
            "model_name": model_name,
            "model_version": model_version,
            "feature_digest": digest,
            "payload": dict(payload),
        }
        for digest, payload in entries.items()
    ]
    for start in range(0, len(rows), _CHUNK):
        stmt = insert(ExplanationCache).on_conflict_do_nothing(
            index_elements=["model_name", "model_version", "feature_digest"]
        )
        session.execute(stmt, rows[start : start + _CHUNK])
    session.flush()


def get_or_explain(
    session: Session,
    explainer: ModelExplainer,
    rows: Sequence[Mapping[str, Any]],
    digests: Sequence[str] | None = None,
) -> list[AttributionRow]:
    """Attributions of ``rows``: cached ones read, the others computed in one batch and stored.

    Parameters
    ----------
    session
        The caller's session (flushed, not committed).
    explainer
        The model version's explainer (its name and version are the cache key's prefix).
    rows
        Feature name -> value per row (the model's features).
    digests
        :func:`feature_digest` of each row, when the caller already has them.

    Returns
    -------
    list of AttributionRow
        One per row, in order.
    """
    keys = list(digests) if digests is not None else [feature_digest(r) for r in rows]
    if len(keys) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(keys)} digests")
    cached = get_cached(
        session,
        model_name=explainer.name,
        model_version=explainer.version,
        digests=keys,
        names=explainer.names,
    )
    missing: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key not in cached and key not in missing:
            missing[key] = i
    if missing:
        todo = [rows[i] for i in missing.values()]
        attribution = explainer.explain_rows(todo)
        entries: dict[str, dict[str, Any]] = {}
        for j, (key, i) in enumerate(missing.items()):
            row = attribution.row(j)
            cached[key] = row
            entries[key] = row.to_payload(rows[i])
        store(
            session,
            model_name=explainer.name,
            model_version=explainer.version,
            entries=entries,
        )
    return [cached[k] for k in keys]


__all__ = ["feature_digest", "get_cached", "get_or_explain", "store"]
