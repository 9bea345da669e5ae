"""Canonical JSON: one text per value, stable through a JSON round trip."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allotment.audit.canonical import canonical_json, normalize
from allotment.domain.enums import Tier

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_text_survives_a_json_round_trip(value: Any) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


def test_key_order_and_whitespace_do_not_matter() -> None:
    a = json.loads('{"b": 1, "a": {"y": [1, 2], "x": "é"}}')
    b = json.loads('{"a":{"x":"é","y":[1,2]},"b":1}')
    assert canonical_json(a) == canonical_json(b) == '{"a":{"x":"é","y":[1,2]},"b":1}'


def test_money_dates_and_enums_become_strings() -> None:
    paris = timezone(timedelta(hours=1))
    value = {
        "amount": Decimal("12500.10"),
        "at": datetime(2025, 1, 28, 10, 30, tzinfo=paris),
        "day": date(2025, 2, 15),
        Tier.VIP: (Tier.PREMIUM, 1),
    }
    assert normalize(value) == {
        "amount": "12500.10",
        "at": "2025-01-28T09:30:00+00:00",
        "day": "2025-02-15",
        "vip": ["premium", 1],
    }


@pytest.mark.parametrize(
    "bad",
    [
        datetime(2025, 1, 1, 12, 0),  # naive: which zone?
        float("nan"),
        Decimal("Infinity"),
        {1: "int key"},
        object(),
    ],
)
def test_values_without_one_canonical_form_are_refused(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json({"x": bad})


def test_same_instant_in_two_zones_is_one_text() -> None:
    utc = datetime(2025, 1, 28, 9, 30, tzinfo=UTC)
    assert canonical_json(utc) == canonical_json(utc.astimezone(timezone(timedelta(hours=-5))))
