"""Check a file against an entity's spec and turn it into typed rows, collecting every problem.

Nothing here stops at the first problem: missing columns, unparseable cells, out-of-range
numbers, duplicate keys and unknown references are all reported together, each with its file,
row and column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allotment.io.entities import ENTITIES, EntitySpec, Reference
from allotment.io.keys import describe_key, key_strings
from allotment.io.mapping import Mapping
from allotment.io.parse import CANONICAL, as_text, parse
from allotment.io.problems import FILE, HEADER, Problem
from allotment.io.reading import RawTable

# entity name -> natural keys known to exist (in the database or earlier in the same import)
KnownKeys = Callable[[str], set[str]]


@dataclass
class ValidatedTable:
    """A file's rows as typed values, ready to write when ``problems`` is empty.

    Parameters
    ----------
    spec
        The entity.
    file
        Name used in messages.
    frame
        One ``object`` column per spec column (Python values, ``None`` for null).
    rows
        Row numbers as the user sees them, aligned with ``frame``.
    present
        Columns the file (or the mapping's constants) gave; only these are updated on rows
        that already exist. The others hold defaults, used when a row is inserted.
    problems
        Everything wrong with the file.
    """

    spec: EntitySpec
    file: str
    frame: pd.DataFrame
    rows: np.ndarray
    present: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    def add(self, mask: pd.Series, column: str | None, reasons: pd.Series | str) -> None:
        """Record a problem for every row where ``mask`` is True."""
        positions = np.flatnonzero(mask.to_numpy(dtype=bool))
        if positions.size == 0:
            return
        if isinstance(reasons, str):
            texts = [reasons] * positions.size
        else:
            texts = reasons.iloc[positions].astype("str").tolist()
        self.problems.extend(
            Problem(self.file, int(row), column, text)
            for row, text in zip(self.rows[positions], texts, strict=True)
        )

    @property
    def key(self) -> pd.Series:
        """The natural key of each row as one string (missing where a part is bad)."""
        return key_strings(self.frame, self.spec.key)


def validate(
    raw: RawTable, spec: EntitySpec, mapping: Mapping, *, known_keys: KnownKeys
) -> ValidatedTable:
    """Validate ``raw`` against ``spec`` through ``mapping``.

    Parameters
    ----------
    raw
        The file's text cells.
    spec
        The entity the file holds.
    mapping
        How the file's columns and values become ours.
    known_keys
        Natural keys of each entity that exist (database and earlier files of the import);
        references are checked against them.

    Returns
    -------
    ValidatedTable
        Typed rows and every problem found (an empty list means the file may be written).
    """
    frame = raw.frame.reset_index(drop=True)
    table = ValidatedTable(
        spec, raw.file, pd.DataFrame(index=frame.index), raw.rows, problems=list(raw.problems)
    )
    if any(p.row == FILE for p in raw.problems):
        # Nothing could be read: reporting every column as missing would only repeat that.
        for column in spec.columns:
            table.frame[column.name] = pd.Series(None, index=frame.index, dtype=object)
        return table
    for source, targets in mapping.columns.items():
        if source not in frame.columns:
            table.problems.append(
                Problem(
                    raw.file,
                    HEADER,
                    source,
                    "missing from the file (mapped to " + ", ".join(targets) + ")",
                )
            )
    for column in spec.columns:
        _column(table, frame, raw, column.name, mapping)
    clean = _clean_rows(table)
    _row_checks(table, clean)
    _duplicates(table)
    for ref in spec.references:
        _reference(table, ref, known_keys)
    return table


def _source(frame: pd.DataFrame, name: str, mapping: Mapping) -> str | None:
    sources = [s for s in mapping.sources_of(name) if s in frame.columns]
    if sources:
        return sources[0]
    if mapping.sources_of(name):
        return None  # mapped, but the file lacks it (reported with the mapping's name)
    if name in frame.columns and name not in mapping.columns:
        return name
    return None


def _column(
    table: ValidatedTable, frame: pd.DataFrame, raw: RawTable, name: str, mapping: Mapping
) -> None:
    spec_column = table.spec.column(name)
    index = frame.index
    if name in mapping.constants:
        table.frame[name] = pd.Series([mapping.constants[name]] * len(index), index, dtype=object)
        table.present.add(name)
        return
    source = _source(frame, name, mapping)
    if source is None:
        if name in mapping.defaults:
            table.frame[name] = pd.Series(
                [mapping.defaults[name]] * len(index), index, dtype=object
            )
            table.present.add(name)
            return
        if spec_column.required and not mapping.sources_of(name):
            table.problems.append(Problem(table.file, HEADER, name, "required column is missing"))
        table.frame[name] = _fallback(table, spec_column.name, pd.Series(True, index=index))
        return
    table.present.add(name)
    text = as_text(frame[source])
    if name in mapping.values:
        lookup = mapping.values[name]
        mapped = text.map(lambda v: lookup.get(v, v) if isinstance(v, str) else v)
        text = as_text(mapped.astype("str").mask(mapped.isna()))
    fmt = CANONICAL if source in raw.native_dates else mapping.text_format(name)
    values, reasons = parse(text, spec_column, fmt)
    table.add(reasons.notna(), name, reasons)
    blank = text.isna()
    if blank.any():
        if name in mapping.defaults:
            values[blank] = mapping.defaults[name]
        else:
            fallback = _fallback(table, name, blank)
            values[blank] = fallback[blank]
            if spec_column.required and spec_column.default_from is None:
                table.add(blank, name, "value is required (the cell is blank)")
    table.frame[name] = values


def _fallback(table: ValidatedTable, name: str, where: pd.Series) -> pd.Series:
    """The spec's default for ``name`` (a constant, or another column's value)."""
    column = table.spec.column(name)
    index = table.frame.index
    if column.default_from is not None and column.default_from in table.frame:
        return table.frame[column.default_from].where(where, None).astype(object)
    return pd.Series([column.default] * len(index), index, dtype=object)


def _clean_rows(table: ValidatedTable) -> pd.Series:
    """Rows without any problem so far (later checks only judge these)."""
    bad_rows = {p.row for p in table.problems if isinstance(p.row, int)}
    return ~pd.Series(np.isin(table.rows, list(bad_rows)), index=table.frame.index)


def _row_checks(table: ValidatedTable, clean: pd.Series) -> None:
    for check in table.spec.checks:
        subject = clean.copy()
        for column in check.columns:
            subject &= table.frame[column].notna()
        if not subject.any():
            continue
        bad = pd.Series(False, index=table.frame.index)
        part = table.frame.loc[subject, list(check.columns)]
        bad[subject] = check.bad(part).to_numpy(dtype=bool)
        table.add(bad, check.columns[0], check.reason)


def _duplicates(table: ValidatedTable) -> None:
    keys = table.key
    dup = keys.notna() & keys.duplicated(keep=False)
    if not dup.any():
        return
    rows = pd.Series(table.rows, index=keys.index)
    lines_by_key = rows[dup].groupby(keys[dup]).agg(list)
    label = "+".join(table.spec.key)
    texts: dict[int, str] = {}
    for position in np.flatnonzero(dup.to_numpy()):
        key = keys.iloc[position]
        own = table.rows[position]
        others = [str(r) for r in lines_by_key[key] if r != own]
        texts[int(position)] = (
            f"duplicate key {describe_key(table.spec.key, key)} (also on row {', '.join(others)})"
        )
    reasons = pd.Series(texts, dtype="str").reindex(keys.index)
    table.add(dup, label, reasons)


def _reference(table: ValidatedTable, ref: Reference, known_keys: KnownKeys) -> None:
    parts = table.frame[list(ref.columns)]
    given = parts.notna()
    label = "+".join(ref.columns)
    if len(ref.columns) > 1:
        partial = given.any(axis=1) & ~given.all(axis=1)
        table.add(
            partial,
            label,
            "give all of " + ", ".join(ref.columns) + " or none",
        )
    keys = key_strings(table.frame, ref.columns)
    present = keys.notna()
    if not present.any():
        return
    known = known_keys(ref.entity)
    unknown = present & ~keys.isin(known)
    if not unknown.any():
        return
    target_key = ENTITIES[ref.entity].key
    reasons = keys[unknown].map(
        lambda k: (
            f"no {ref.entity} with {describe_key(target_key, k)} in the database or this import"
        )
    )
    table.add(unknown, label, reasons.reindex(keys.index))
