"""Money and time column types (pure, no database needed for the conversions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from allotment.db.types import Money, UTCDateTime, to_money

DIALECT = sqlite.dialect()
cents = st.integers(min_value=-(10**15), max_value=10**15)


@given(cents)
def test_money_round_trips_every_cent_amount(n: int) -> None:
    money = Money()
    amount = Decimal(n) / 100
    stored = money.process_bind_param(amount, DIALECT)
    assert stored == n
    assert money.process_result_value(stored, DIALECT) == amount


def test_money_rounds_sub_cent_amounts_half_even() -> None:
    assert to_money(Decimal("0.125")) == Decimal("0.12")
    assert to_money(Decimal("0.135")) == Decimal("0.14")
    assert to_money("19.999") == Decimal("20.00")


def test_utc_datetime_normalizes_offsets_and_refuses_naive() -> None:
    col = UTCDateTime()
    paris = datetime(2025, 1, 28, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    stored = col.process_bind_param(paris, DIALECT)
    assert stored == datetime(2025, 1, 28, 9, 0)
    assert col.process_result_value(stored, DIALECT) == datetime(2025, 1, 28, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        col.process_bind_param(datetime(2025, 1, 28), DIALECT)
