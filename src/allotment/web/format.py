"""How the dashboard writes numbers, money and dates (Jinja filters; USD, UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

DASH = "—"
MINUS = "−"


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        got = float(value)
    except (TypeError, ValueError):
        return None
    return got if got == got else None  # NaN reads as unknown


def money(value: Any, cents: bool = True) -> str:
    """``$1,234.56`` (``$1,235`` without cents); negatives with a minus sign; None: a dash."""
    amount = _number(value)
    if amount is None:
        return DASH
    if isinstance(value, Decimal) and cents:
        text = f"${abs(value):,.2f}"
    else:
        text = f"${abs(amount):,.2f}" if cents else f"${abs(amount):,.0f}"
    return (MINUS + text) if amount < 0 and text.strip("$0.,") else text


def usd(value: Any) -> str:
    """Whole dollars: ``$12,345``."""
    return money(value, cents=False)


def signed_usd(value: Any) -> str:
    """``+$1,234`` / ``−$1,234`` (whole dollars)."""
    amount = _number(value)
    if amount is None:
        return DASH
    text = money(abs(amount), cents=False)
    return ("+" if amount >= 0 else MINUS) + text


def pct(value: Any, digits: int = 0) -> str:
    """A probability or share as a percentage: ``42%``."""
    amount = _number(value)
    return DASH if amount is None else f"{amount:.{digits}%}"


def number(value: Any, digits: int = 0) -> str:
    amount = _number(value)
    return DASH if amount is None else f"{amount:,.{digits}f}"


def day(value: Any) -> str:
    """``6 Dec 2026``."""
    if value is None:
        return DASH
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date() if value.tzinfo else value.date()
    return f"{value.day} {value:%b %Y}"


def when(value: datetime | None) -> str:
    """``6 Dec 2026, 09:13 UTC``."""
    if value is None:
        return DASH
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return f"{day(utc.date())}, {utc:%H:%M} UTC"


def words(value: Any) -> str:
    """An enum or snake_case name as words: ``partially_resolved`` -> ``partially resolved``."""
    if value is None:
        return DASH
    text = str(getattr(value, "value", value)).replace("_", " ")
    return "VIP" if text == "vip" else text


def cap(value: Any) -> str:
    """First letter upper case (labels at the start of a row)."""
    text = str(value)
    return text[:1].upper() + text[1:]


def sentence(value: Any) -> str:
    """A message as a sentence: first letter upper case, a full stop at the end."""
    text = str(value).strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".!?:)" else text + "."


FILTERS = {
    "sentence": sentence,
    "cap": cap,
    "money": money,
    "usd": usd,
    "signed_usd": signed_usd,
    "pct": pct,
    "number": number,
    "day": day,
    "when": when,
    "words": words,
}
