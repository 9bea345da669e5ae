"""Plain reasons: labels and units from the feature registry, signed USD amounts with thousands
separators, imputed inputs marked, largest amounts first."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from allotment.explain import reasons as reasons_module
from allotment.explain.attribution import AttributionRow
from allotment.explain.inputs import InputFlag
from allotment.explain.reasons import format_amount, format_value, reasons
from allotment.features.frame import FeatureKind, Task
from allotment.features.registry import FeatureSpec

# Our own specs, so the tests do not depend on the live feature list.
SPECS = {
    s.name: s
    for s in (
        FeatureSpec("ontime", FeatureKind.NUMERIC, "ratio", "supplier on-time rate, last 90 days",
                    "", (Task.SLA_BREACH,)),
        FeatureSpec("value", FeatureKind.NUMERIC, "USD", "open value", "", (Task.SLA_BREACH,)),
        FeatureSpec("waiting", FeatureKind.NUMERIC, "days", "days waiting", "",
                    (Task.SLA_BREACH,)),
        FeatureSpec("lines", FeatureKind.NUMERIC, "count", "orders, last 90 days", "",
                    (Task.SLA_BREACH,)),
        FeatureSpec("qty", FeatureKind.NUMERIC, "units", "open quantity", "", (Task.SLA_BREACH,)),
        FeatureSpec("urgent", FeatureKind.NUMERIC, "flag", "emergency order", "",
                    (Task.SLA_BREACH,)),
        FeatureSpec("month", FeatureKind.NUMERIC, "month", "order month", "",
                    (Task.SLA_BREACH,)),
        FeatureSpec("tier", FeatureKind.CATEGORICAL, "category", "customer tier", "",
                    (Task.SLA_BREACH,), categories=("vip", "standard")),
    )
}  # fmt: skip


@pytest.fixture(autouse=True)
def _specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reasons_module, "SPECS", SPECS)


def _row(contributions: dict[str, float], flags: tuple[InputFlag, ...] = ()) -> AttributionRow:
    c = np.asarray(list(contributions.values()))
    return AttributionRow("m", 1, tuple(contributions), 0.1, c, 0.1 + float(c.sum()), flags)


def test_the_issue_example_reads_as_written() -> None:
    (reason,) = reasons(_row({"ontime": 0.124}), {"ontime": 0.55}, 10_000.0)
    assert reason.text == "Supplier on-time rate, last 90 days: 55% → +$1,240"
    assert (reason.feature, reason.value_text, reason.amount) == ("ontime", "55%", 1240.0)
    assert reason.label == "Supplier on-time rate, last 90 days"


@pytest.mark.parametrize(
    ("feature", "value", "text"),
    [
        ("ontime", 0.987, "99%"),
        ("ontime", 0.05, "5%"),
        ("value", 12500.4, "$12,500"),
        ("value", -80.0, "-$80"),
        ("waiting", 12.0, "12 days"),
        ("waiting", 1.0, "1 day"),
        ("waiting", 2.5, "2.5 days"),
        ("lines", 1234.0, "1,234"),
        ("qty", 40.0, "40 units"),
        ("urgent", 1.0, "yes"),
        ("urgent", 0.0, "no"),
        ("month", 10.0, "October"),
        ("tier", "vip", "vip"),
        ("ontime", None, "missing"),
        ("ontime", float("nan"), "missing"),
        ("not_in_registry", 3.14159, "3.14"),
    ],
)
def test_values_are_formatted_in_their_unit(feature: str, value: Any, text: str) -> None:
    assert format_value(feature, value) == text


@pytest.mark.parametrize(
    ("usd", "text"),
    [(1240.0, "+$1,240"), (-310.4, "-$310"), (0.42, "+$0.42"), (-1_234_567.8, "-$1,234,568")],
)
def test_amounts_are_signed_with_thousands_separators(usd: float, text: str) -> None:
    assert format_amount(usd) == text


def test_largest_amounts_first_and_top_limits_them() -> None:
    row = _row({"ontime": 0.01, "value": -0.05, "waiting": 0.03, "lines": 0.0, "qty": 0.002})
    values = {"ontime": 0.9, "value": 5000.0, "waiting": 4.0, "lines": 2.0, "qty": 10.0}
    out = reasons(row, values, 1000.0, top=3)
    assert [r.feature for r in out] == ["value", "waiting", "ontime"]
    assert out[0].text == "Open value: $5,000 → -$50"
    # amounts are the probability contributions times the money factor
    assert [r.amount for r in out] == pytest.approx([-50.0, 30.0, 10.0])
    # a zero contribution is not a reason
    assert "lines" not in [r.feature for r in reasons(row, values, 1000.0, top=10)]


def test_an_imputed_input_says_so() -> None:
    flags = (
        InputFlag("ontime", "out_of_range", 1.3, 0.98),
        InputFlag("tier", "unseen_category", "gold", "standard"),
        InputFlag("waiting", "missing", None, None),
    )
    row = _row({"ontime": 0.02, "tier": 0.01, "waiting": 0.005}, flags)
    values = {"ontime": 1.3, "tier": "gold", "waiting": None}
    texts = [r.text for r in reasons(row, values, 1000.0)]
    assert texts == [
        "Supplier on-time rate, last 90 days: 130% → +$20 (imputed: out of range, used 98%)",
        "Customer tier: gold → +$10 (imputed: unknown category, used standard)",
        "Days waiting: missing → +$5.00 (imputed: missing, used the model's missing-value branch)",
    ]
    assert reasons(row, values, 1000.0)[0].flag == flags[0]
