"""The schema migrates and enforces its invariants on both backends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from allotment.db import migrate
from allotment.domain.enums import Tier
from allotment.domain.models import Customer


def _customer(**overrides: object) -> Customer:
    values: dict[str, object] = {
        "code": "C-1",
        "name": "Metro Manufacturing",
        "tier": Tier.VIP,
        "region": "west",
        "lifetime_value": Decimal("1234567.89"),
        "created_on": date(2024, 1, 1),
    }
    values.update(overrides)
    return Customer(**values)


def test_database_is_at_head(engine: Engine) -> None:
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_money_round_trips_exactly(session: Session) -> None:
    session.add(_customer(lifetime_value=Decimal("0.10") + Decimal("0.20")))
    session.commit()
    value = session.scalar(select(Customer.lifetime_value))
    assert value == Decimal("0.30")
    stored = session.execute(text("SELECT lifetime_value FROM customers")).scalar_one()
    assert stored == 30  # integer cents in the database


def test_money_refuses_float(session: Session) -> None:
    session.add(_customer(lifetime_value=0.3))
    with pytest.raises(Exception, match="never float"):
        session.flush()


def test_enum_check_constraint_rejects_unknown_tier(session: Session) -> None:
    with pytest.raises(IntegrityError):
        session.execute(
            text(
                "INSERT INTO customers"
                " (code, name, tier, region, lifetime_value, created_on, status)"
                " VALUES ('C-9', 'x', 'gold', 'west', 0, '2024-01-01', 'active')"
            )
        )


def test_natural_key_is_unique(session: Session) -> None:
    session.add_all([_customer(), _customer(name="Other")])
    with pytest.raises(IntegrityError):
        session.commit()
