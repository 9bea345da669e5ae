"""Bodies shared by every route group."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

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


def _iso_day(value: Any) -> Any:
    # Lax parsing would take a number as a Unix time ("1e-5" is 1970-01-01): only YYYY-MM-DD.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    raise ValueError("expected a date as YYYY-MM-DD")


#: A calendar day written ``YYYY-MM-DD`` (nothing else is taken for a date).
IsoDate = Annotated[date, BeforeValidator(_iso_day)]

#: The largest page any list serves: the settings' default ``max_page_size``, declared in the
#: OpenAPI document; a deployment may lower (not raise) it through ``ALLOTMENT_MAX_PAGE_SIZE``.
MAX_PAGE_SIZE = 200

#: A page size (``limit``) query parameter, 1..:data:`MAX_PAGE_SIZE` (a 422 naming it otherwise).
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")]
