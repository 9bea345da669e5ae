"""Bodies shared by every route group."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

T = TypeVar("T")

# Ids and quantities are 32-bit integer columns; a larger number is a 422, not a database error.
MAX_INT = 2**31 - 1
# Money filters and amounts, USD: far above any order, far below the 64-bit cents column's limit.
MAX_USD = Decimal("1000000000000")
# Text parameters: PostgreSQL refuses NUL characters in text, so they are refused at the edge.
NO_NUL = r"^[^\x00]*$"


class RequestBody(BaseModel):
    """Base of every request body: unknown (and so server-owned) fields are refused (422)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        return value


class Page(BaseModel, Generic[T]):
    """One page of a cursor-paginated list; pass ``next_cursor`` back as ``cursor``."""

    items: list[T]
    next_cursor: str | None
    limit: int


#: Days the service accepts as dates: far around any order, far from ``date``'s limits, so
#: date arithmetic (a window of days before or after) cannot overflow.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)


def _day_in_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"date must be between {FIRST_DAY} and {LAST_DAY}")
    return value


#: A calendar day within :data:`FIRST_DAY`..:data:`LAST_DAY` (a 422 naming the field otherwise).
Day = Annotated[date, AfterValidator(_day_in_range)]
