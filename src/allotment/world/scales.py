"""World sizes. One frozen record per scale; everything else in the world derives from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from allotment.errors import WorldConfigError

#: First simulated day of every world; "today" is ``START_DATE + days``.
START_DATE = date(2024, 11, 1)


@dataclass(frozen=True)
class Scale:
    """Size and intensity of a synthetic distributor.

    Parameters
    ----------
    name
        ``tiny``, ``small``, ``medium`` or ``large``.
    n_customers, n_products, n_suppliers, n_locations
        Entity counts (locations are warehouses; every product is stocked at every one).
    days
        Simulated history in days before "today".
    order_rate
        Orders per day of an average standard-tier customer on a weekday outside the peak.
    lines_per_order
        Mean number of lines in an order (1 + Poisson).
    crunch_days
        Length, in days before today, of a supply crunch (suppliers much later) and demand
        surge; 0 for none. ``large`` uses it to build a live backlog of 100k+ lines without
        tens of millions of history rows.
    crunch_demand
        Demand multiplier during the crunch.
    crunch_delay_logit
        Added to every supplier's late-delivery log-odds during the crunch.
    """

    name: str
    n_customers: int
    n_products: int
    n_suppliers: int
    n_locations: int
    days: int
    order_rate: float
    lines_per_order: float = 2.5
    crunch_days: int = 0
    crunch_demand: float = 1.0
    crunch_delay_logit: float = 0.0

    @property
    def start(self) -> date:
        return START_DATE

    @property
    def today(self) -> date:
        return START_DATE + timedelta(days=self.days)

    def as_params(self) -> dict[str, Any]:
        return asdict(self)


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        name="tiny",
        n_customers=90,
        n_products=50,
        n_suppliers=4,
        n_locations=2,
        days=120,
        order_rate=0.15,
        crunch_days=30,
        crunch_demand=1.5,
        crunch_delay_logit=2.0,
    ),
    "small": Scale(
        name="small",
        n_customers=400,
        n_products=1_000,
        n_suppliers=20,
        n_locations=3,
        days=730,
        order_rate=0.1,
        crunch_days=45,
        crunch_demand=1.5,
        crunch_delay_logit=2.0,
    ),
    "medium": Scale(
        name="medium",
        n_customers=4_000,
        n_products=5_000,
        n_suppliers=60,
        n_locations=5,
        days=730,
        order_rate=0.025,
        crunch_days=45,
        crunch_demand=1.5,
        crunch_delay_logit=2.0,
    ),
    "large": Scale(
        name="large",
        n_customers=20_000,
        n_products=20_000,
        n_suppliers=150,
        n_locations=8,
        days=730,
        order_rate=0.035,
        crunch_days=90,
        crunch_demand=6.0,
        crunch_delay_logit=4.0,
    ),
}


def get_scale(name: str) -> Scale:
    """The scale called ``name``; :class:`WorldConfigError` for an unknown one."""
    try:
        return SCALES[name]
    except KeyError:
        known = ", ".join(SCALES)
        raise WorldConfigError(f"unknown scale {name!r}; choose one of {known}") from None
