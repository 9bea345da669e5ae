"""Vectorized parsing of text cells into typed values, with a reason for every cell that fails.

Input is a text Series (pandas ``str`` dtype, missing = blank cell); output is an ``object``
Series of plain Python values (``int``, ``float``, ``Decimal``, ``bool``, ``date``, enum
members; ``None`` where blank) and a Series of reasons (missing where the cell is fine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from allotment.io.entities import Column, Kind

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
ISO_DATE = "%Y-%m-%d"

_INT = r"[+-]?\d+"
# Parquet writers often store a nullable integer column as float: "12.0" is still 12.
_INTISH = r"[+-]?\d+(?:\.0*)?"
_DOLLARS = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
# Up to 15 digits of cents keeps every amount exact in a signed 64-bit integer.
_MAX_CENT_DIGITS = 15


@dataclass(frozen=True)
class TextFormat:
    """How the cells of one column are written in the file.

    Parameters
    ----------
    decimal
        Decimal separator of numbers ("." or ",").
    thousands
        Thousands separator to drop, if the file uses one.
    date_format
        ``strptime`` format of dates.
    money_unit
        ``"dollars"`` (``1234.50``) or ``"cents"`` (``123450``).
    true_words, false_words
        Lower-case words read as booleans.
    """

    decimal: str = "."
    thousands: str | None = None
    date_format: str = ISO_DATE
    money_unit: str = "dollars"
    true_words: frozenset[str] = field(default=TRUE_WORDS)
    false_words: frozenset[str] = field(default=FALSE_WORDS)


CANONICAL = TextFormat()


def as_text(values: pd.Series) -> pd.Series:
    """Text of every cell, stripped; blank cells become missing."""
    text = values.astype("str").str.strip()
    return text.mask(text == "")


def _quoted(text: pd.Series) -> pd.Series:
    return "'" + text + "'"


def _numeric_text(text: pd.Series, fmt: TextFormat) -> pd.Series:
    """Text with the thousands separator removed and "." as decimal separator."""
    if fmt.thousands:
        text = text.str.replace(fmt.thousands, "", regex=False)
    if fmt.decimal != ".":
        text = text.str.replace(fmt.decimal, ".", regex=False)
    return text


def _to_objects(values: pd.Series, missing: pd.Series) -> pd.Series:
    out = values.astype(object)
    out[missing] = None
    return out


def parse(text: pd.Series, column: Column, fmt: TextFormat) -> tuple[pd.Series, pd.Series]:
    """Parse and check one column.

    Parameters
    ----------
    text
        Stripped text cells (missing = blank), as from :func:`as_text`.
    column
        The spec of the column (type and constraints).
    fmt
        How the file writes this column.

    Returns
    -------
    values, reasons
        ``values`` holds Python objects (``None`` where blank or bad); ``reasons`` holds a
        message where a non-blank cell is bad and is missing elsewhere. Blank cells are not
        judged here (whether blank is allowed depends on defaults).
    """
    present = text.notna()
    reasons = pd.Series(pd.NA, index=text.index, dtype="str")
    values: pd.Series
    kind = column.kind
    if kind is Kind.STR:
        values = text.astype(object).where(present, None)
        if column.max_length is not None:
            too_long = present & (text.str.len() > column.max_length)
            reasons[too_long] = (
                "value is longer than "
                + str(column.max_length)
                + " characters ("
                + text[too_long].str.len().astype("Int64").astype("str")
                + ")"
            )
    elif kind is Kind.ENUM:
        values, reasons = _parse_enum(text, present, column)
    elif kind is Kind.INT:
        values, reasons = _parse_int(text, present, fmt)
    elif kind is Kind.FLOAT:
        values, reasons = _parse_float(text, present, fmt)
    elif kind is Kind.MONEY:
        values, reasons = _parse_money(text, present, fmt)
    elif kind is Kind.BOOL:
        values, reasons = _parse_bool(text, present, fmt)
    elif kind is Kind.DATE:
        values, reasons = _parse_date(text, present, fmt)
    else:  # pragma: no cover - every Kind is handled above
        raise AssertionError(kind)
    reasons = _check_bounds(values, reasons, column)
    values = values.astype(object)
    values[values.isna() | reasons.notna()] = None
    return values, reasons


def _parse_enum(text: pd.Series, present: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    assert column.enum is not None
    enum = column.enum
    lowered = text.str.lower()
    known = lowered.isin(column.allowed)
    members: dict[str, Any] = {member.value: member for member in enum}
    ok = present & known
    values = pd.Series(None, index=text.index, dtype=object)
    values[ok] = [members[v] for v in lowered[ok]]
    reasons = pd.Series(pd.NA, index=text.index, dtype="str")
    bad = present & ~known
    reasons[bad] = _quoted(text[bad]) + " is not one of " + ", ".join(column.allowed)
    return values, reasons


def _parse_int(text: pd.Series, present: pd.Series, fmt: TextFormat) -> tuple[pd.Series, pd.Series]:
    clean = _numeric_text(text, fmt)
    ok = present & clean.str.fullmatch(_INTISH) & (clean.str.len() <= 18)
    digits = clean.where(ok).str.replace(r"\.0*$", "", regex=True)
    numbers = pd.to_numeric(digits, errors="coerce").astype("Int64")
    reasons = pd.Series(pd.NA, index=text.index, dtype="str")
    bad = present & ~ok
    reasons[bad] = _quoted(text[bad]) + " is not a whole number"
    return _to_objects(numbers, ~ok), reasons


def _parse_float(
    text: pd.Series, present: pd.Series, fmt: TextFormat
) -> tuple[pd.Series, pd.Series]:
    clean = _numeric_text(text, fmt)
    numbers = pd.to_numeric(clean, errors="coerce").astype("float64")
    ok = present & pd.Series(np.isfinite(numbers.to_numpy()), index=text.index)
    reasons = pd.Series(pd.NA, index=text.index, dtype="str")
    bad = present & ~ok
    reasons[bad] = _quoted(text[bad]) + " is not a number"
    return _to_objects(numbers, ~ok), reasons


def _parse_money(
    text: pd.Series, present: pd.Series, fmt: TextFormat
) -> tuple[pd.Series, pd.Series]:
    clean = _numeric_text(text, fmt).str.replace(r"^\$|(?<=^[+-])\$", "", regex=True)
    reasons = pd.Series(pd.NA, index=text.index, dtype="str")
    if fmt.money_unit == "cents":
        ok = present & clean.str.fullmatch(_INT)
        cents_text = clean.where(ok)
        bad_reason = " is not a whole number of cents"
    else:
        ok = present & clean.str.fullmatch(_DOLLARS)
        # Every row matches once non-amounts are replaced by "0", so the groups stay text.
        groups = clean.where(ok, "0").str.extract(r"^([+-]?)(\d*)(?:\.(\d*))?$")
        sign = groups[0].str.replace("+", "", regex=False)
        whole = groups[1].str.zfill(1)
        frac = groups[2].fillna("")
        fine = frac.str.len() <= 2
        too_precise = ok & ~fine
        reasons[too_precise] = _quoted(text[too_precise]) + " has more than 2 decimal places"
        ok = ok & fine
        cents_text = (sign + whole + frac.str.ljust(2, "0")).where(ok)
        bad_reason = " is not an amount"
    overflow = ok & (cents_text.str.lstrip("+-").str.lstrip("0").str.len() > _MAX_CENT_DIGITS)
    reasons[overflow] = _quoted(text[overflow]) + " is too large"
    ok = ok & ~overflow
    bad = present & ~ok & reasons.isna()
    reasons[bad] = _quoted(text[bad]) + bad_reason
    values = pd.Series(None, index=text.index, dtype=object)
    chosen = cents_text[ok]
    values[ok] = [Decimal(int(c)).scaleb(-2) for c in chosen]
    return values, reasons


def _parse_bool(
    text: pd.Series, present: pd.Series, fmt: TextFormat
) -> tuple[pd.Series, pd.Series]:
    lowered = text.str.lower()
    is_true = lowered.isin(fmt.true_words)
    is_false = lowered.isin(fmt.false_words)
    values = pd.Series(None, index=text.index, dtype=object)
    values[present & is_true] = True
    values[present & is_false] = False
    reasons = pd.Series(pd.NA, index=text.index, dtype="str")
    bad = present & ~is_true & ~is_false
    words = "/".join(sorted(fmt.true_words)) + " or " + "/".join(sorted(fmt.false_words))
    reasons[bad] = _quoted(text[bad]) + " is not a boolean (" + words + ")"
    return values, reasons


def _parse_date(
    text: pd.Series, present: pd.Series, fmt: TextFormat
) -> tuple[pd.Series, pd.Series]:
    stamps = pd.to_datetime(text, format=fmt.date_format, errors="coerce")
    ok = present & stamps.notna()
    values = pd.Series(None, index=text.index, dtype=object)
    values[ok] = stamps[ok].dt.date
    reasons = pd.Series(pd.NA, index=text.index, dtype="str")
    bad = present & ~ok
    reasons[bad] = _quoted(text[bad]) + " is not a date in the format " + fmt.date_format
    return values, reasons


def _check_bounds(values: pd.Series, reasons: pd.Series, column: Column) -> pd.Series:
    if column.min is None and column.max is None:
        return reasons
    fine = values.notna() & reasons.isna()
    if not fine.any():
        return reasons
    # Money stays Decimal (compared exactly); numpy compares the int/float columns.
    subject = values[fine]
    numbers: Any = subject.to_numpy() if column.kind is Kind.MONEY else subject.to_numpy(float)
    if column.min is not None:
        low = fine.copy()
        low[fine] = numbers < column.min
        reasons[low] = (
            "must be at least " + _fmt_bound(column.min) + ", got " + values[low].astype("str")
        )
    if column.max is not None:
        high = fine.copy()
        high[fine] = numbers > column.max
        reasons[high] = (
            "must be at most " + _fmt_bound(column.max) + ", got " + values[high].astype("str")
        )
    return reasons


def _fmt_bound(bound: Any) -> str:
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    return str(bound)


def parse_scalar(value: str, column: Column, fmt: TextFormat = CANONICAL) -> tuple[Any, str | None]:
    """Parse one value (a mapping's constant or default) the way a cell would be parsed."""
    text = as_text(pd.Series([value], dtype="str"))
    if text.isna().all():
        return None, None
    values, reasons = parse(text, column, fmt)
    reason = reasons.iloc[0]
    return values.iloc[0], (None if pd.isna(reason) else str(reason))
