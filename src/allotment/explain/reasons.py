"""Plain-language reasons from an attribution: feature, its value, and what it adds in USD.

A reason reads like ``"Supplier on-time rate, last 90 days: 55% → +$1,240"``. The money amount
is the feature's probability-space contribution times ``money_per_unit_probability`` (USD per
1.0 of probability), which the caller supplies: for a blend component it is
weight × exposure × multiplier. Labels and units come from the feature registry
(:data:`allotment.features.registry.SPECS`); a feature it does not know is shown by its name
with a plain number. An imputed input says so: ``"… (imputed: out of range, used 100%)"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from allotment.explain.attribution import AttributionRow
from allotment.explain.inputs import InputFlag
from allotment.features.registry import SPECS

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_PROBLEM_TEXT = {
    "missing": "missing",
    "out_of_range": "out of range",
    "unseen_category": "unknown category",
}


@dataclass(frozen=True)
class Reason:
    """One feature's part of a model-driven amount, ready to show.

    Parameters
    ----------
    feature
        Feature name.
    label
        Plain-language label (the registry's, capitalised).
    value_text
        The value as given, formatted in its unit.
    amount
        The feature's contribution in USD (probability contribution × money factor).
    text
        The whole sentence, e.g. ``"Supplier on-time rate, last 90 days: 55% → +$1,240"``.
    flag
        The input flag when the value was imputed.
    """

    feature: str
    label: str
    value_text: str
    amount: float
    text: str
    flag: InputFlag | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "label": self.label,
            "value": self.value_text,
            "amount": self.amount,
            "text": self.text,
            "flag": self.flag.to_dict() if self.flag else None,
        }


def label(feature: str) -> str:
    """The feature's plain-language label, capitalised (its name if the registry lacks it)."""
    spec = SPECS.get(feature)
    text = spec.label if spec else feature.replace("_", " ")
    return text[:1].upper() + text[1:]


def _number(x: float, decimals: int) -> str:
    text = f"{x:,.{decimals}f}"
    if decimals and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_value(feature: str, value: Any) -> str:
    """``value`` in the feature's unit: percent, days, USD, units, counts, yes/no, month, etc.

    Missing values read ``"missing"``; categories are shown as they are.
    """
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return "missing"
    spec = SPECS.get(feature)
    unit = spec.unit if spec else ""
    if unit == "category" or isinstance(value, str):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if unit in ("ratio", "share"):
        return f"{_number(100 * x, 0 if abs(x) >= 0.1 else 1)}%"
    if unit == "share per day":
        return f"{_number(100 * x, 2)}% per day"
    if unit == "USD":
        sign = "-" if x < 0 else ""
        return f"{sign}${_number(abs(x), 0)}"
    if unit == "days":
        days = _number(x, 0 if abs(x) >= 10 else 1)
        return f"{days} day" if days in ("1", "-1") else f"{days} days"
    if unit == "units":
        return f"{_number(x, 0 if x == int(x) else 1)} units"
    if unit == "count":
        return _number(x, 0 if x == int(x) else 1)
    if unit == "flag":
        return "yes" if x >= 0.5 else "no"
    if unit == "month" and x == int(x) and 1 <= x <= 12:
        return _MONTHS[int(x) - 1]
    if unit == "day of year":
        return f"day {_number(x, 0)}"
    return _number(x, 2 if abs(x) < 100 else 0)


def format_amount(usd: float) -> str:
    """A signed USD amount with thousands separators: ``+$1,240``, ``-$35``, ``+$0.42``."""
    sign = "-" if usd < 0 else "+"
    magnitude = abs(usd)
    decimals = 0 if magnitude >= 10 else 2
    return f"{sign}${magnitude:,.{decimals}f}"


def _flag_text(feature: str, flag: InputFlag) -> str:
    what = _PROBLEM_TEXT.get(flag.problem, flag.problem)
    used = (
        "the model's missing-value branch"
        if flag.used is None
        else format_value(feature, flag.used)
    )
    return f" (imputed: {what}, used {used})"


def reasons(
    row: AttributionRow,
    values: Mapping[str, Any],
    money_per_unit_probability: float,
    top: int = 5,
) -> list[Reason]:
    """The ``top`` features by absolute money amount, as plain reasons.

    Parameters
    ----------
    row
        One row's attribution (probability space).
    values
        The row's feature values as given (before imputation), for display.
    money_per_unit_probability
        USD per 1.0 of probability (e.g. weight × exposure × multiplier of a blend component).
    top
        How many reasons to return (features whose amount rounds to zero cents are skipped).

    Returns
    -------
    list of Reason
        Largest absolute amount first; ties keep the feature order.
    """
    amounts = np.asarray(row.contributions, dtype=np.float64) * money_per_unit_probability
    order = sorted(range(len(amounts)), key=lambda i: -abs(float(amounts[i])))
    out: list[Reason] = []
    for i in order:
        if len(out) >= top:
            break
        amount = float(amounts[i])
        if abs(amount) < 0.005:  # USD: nothing a person would read
            continue
        feature = row.names[i]
        flag = row.flag(feature)
        value_text = format_value(feature, values.get(feature))
        text = f"{label(feature)}: {value_text} → {format_amount(amount)}"
        if flag is not None:
            text += _flag_text(feature, flag)
        out.append(Reason(feature, label(feature), value_text, amount, text, flag))
    return out


__all__ = ["Reason", "format_amount", "format_value", "label", "reasons"]
