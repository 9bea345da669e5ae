"""One problem found in an input file: where it is and why it is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allotment.errors import ImportValidationError

# Rows that are not data rows: the header line, or the file as a whole.
HEADER = "header"
FILE = "file"


@dataclass(frozen=True)
class Problem:
    """A problem at ``file``:``row`` in ``column`` (None when it concerns the whole row)."""

    file: str
    row: int | str
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.row}"
        if self.column is not None:
            return f"{where}: column '{self.column}': {self.reason}"
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "column": self.column, "reason": self.reason}

    def sort_key(self) -> tuple[str, int]:
        """File, then row (whole-file and header problems first); sorting is stable."""
        rank = {FILE: -2, HEADER: -1}
        row = self.row if isinstance(self.row, int) else rank.get(self.row, -1)
        return (self.file, row)


def raise_if_any(problems: list[Problem], *, file: str) -> None:
    """Raise :class:`ImportValidationError` listing ``problems`` in the given order, if any."""
    if not problems:
        return
    ordered = problems
    noun = "problem" if len(ordered) == 1 else "problems"
    raise ImportValidationError(
        f"{file}: {len(ordered)} {noun}; nothing was imported",
        problems=[p.to_dict() for p in ordered],
    )
