"""Explanation cache: stable digests; a hit reads what a miss stored; the same key stored twice
(two workers) does not fail; keyed by model version. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from allotment.db.engine import make_sessionmaker
from allotment.domain.models import ExplanationCache
from allotment.explain import ModelExplainer
from allotment.explain.attribution import Attribution
from allotment.explain.cache import feature_digest, get_or_explain, store
from allotment.features.frame import TaskFrame
from tests.explain.conftest import rows_of


def test_digest_is_stable_across_equal_spellings() -> None:
    base = {"a": 3.0, "b": "vip", "c": math.nan, "d": 0.0}
    same: list[dict[str, Any]] = [
        {"d": 0.0, "c": None, "b": "vip", "a": 3.0},  # key order
        {"a": 3, "b": "vip", "c": pd.NA, "d": -0.0},  # int vs float, NA, negative zero
        {"a": np.float64(3.0), "b": np.str_("vip"), "c": np.nan, "d": np.int64(0)},
    ]
    for other in same:
        assert feature_digest(other) == feature_digest(base)
    assert len(feature_digest(base)) == 64


@pytest.mark.parametrize(
    "change", [{"a": 3.0000001}, {"b": "standard"}, {"c": 0.0}, {"b": 1.0}, {"e": 1.0}]
)
def test_digest_changes_with_any_value(change: dict[str, Any]) -> None:
    base = {"a": 3.0, "b": "vip", "c": math.nan}
    assert feature_digest({**base, **change}) != feature_digest(base)


class _Counting:
    """The explainer, counting the rows it is asked to explain."""

    def __init__(self, inner: ModelExplainer) -> None:
        self.inner = inner
        self.name, self.version, self.names = inner.name, inner.version, inner.names
        self.explained = 0

    def explain_rows(self, rows: Any, **kwargs: Any) -> Attribution:
        self.explained += len(rows)
        return self.inner.explain_rows(rows, **kwargs)


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ExplanationCache)) or 0)


def test_a_miss_is_computed_and_stored_and_a_hit_reads_it(
    session: Session, explainer: ModelExplainer, frame: TaskFrame
) -> None:
    X = frame.X.iloc[:6].copy()
    X.loc[X.index[0], "qty_ratio"] = np.nan  # a flagged row survives the round trip
    rows = rows_of(X)
    rows.append(dict(rows[1]))  # a duplicate is explained and stored once
    counting = _Counting(explainer)
    first = get_or_explain(session, counting, rows)  # type: ignore[arg-type]
    session.commit()
    assert counting.explained == 6
    assert _count(session) == 6
    again = get_or_explain(session, counting, rows)  # type: ignore[arg-type]
    assert counting.explained == 6  # all hits
    expected = [*explainer.explain(X).probability, explainer.explain(X).probability[1]]
    for a, b, p in zip(first, again, expected, strict=True):
        assert b.probability == a.probability == pytest.approx(p, abs=1e-12)
        assert b.base == a.base
        np.testing.assert_array_equal(b.contributions, a.contributions)
        assert b.names == explainer.names
        assert b.flags == a.flags
    assert again[0].flag("qty_ratio") is not None
    payload = session.scalars(select(ExplanationCache.payload)).first()
    assert payload is not None and set(payload) >= {"base", "contributions", "values", "flags"}


def test_another_model_version_misses(
    session: Session, explainer: ModelExplainer, frame: TaskFrame
) -> None:
    rows = rows_of(frame.X.iloc[:3])
    get_or_explain(session, explainer, rows)
    newer = ModelExplainer(
        explainer.name,
        explainer.version + 1,
        explainer.features,
        explainer._members,
        explainer.validator,
    )
    counting = _Counting(newer)
    get_or_explain(session, counting, rows)  # type: ignore[arg-type]
    assert counting.explained == 3
    assert _count(session) == 6


def test_the_same_key_stored_twice_does_not_fail(engine: Engine) -> None:
    # two workers explain the same row at once: both insert, both commit, the first one wins
    make = make_sessionmaker(engine)
    with make() as first, make() as second:
        store(first, model_name="m", model_version=1, entries={"d" * 64: {"base": 0.1}})
        first.commit()
        store(
            second,
            model_name="m",
            model_version=1,
            entries={"d" * 64: {"base": 0.2}, "e" * 64: {"base": 0.3}},
        )
        second.commit()
        payloads: dict[str, Any] = dict(
            second.execute(select(ExplanationCache.feature_digest, ExplanationCache.payload)).all()
        )
    assert payloads == {"d" * 64: {"base": 0.1}, "e" * 64: {"base": 0.3}}
