"""Mapping files: how a user's columns and values become ours (TOML; README: importing).

A mapping is checked against the entity's spec when it is loaded, so a typo in a key or a
target column is reported (file and key named) before any data is read.
"""

from __future__ import annotations

import codecs
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from allotment.errors import ImportMappingError
from allotment.io.entities import EntitySpec, Kind
from allotment.io.parse import FALSE_WORDS, ISO_DATE, TRUE_WORDS, TextFormat, parse_scalar

TOP_LEVEL_KEYS = frozenset(
    {"entity", "csv", "columns", "values", "dates", "defaults", "constants", "money", "booleans"}
)
CSV_KEYS = frozenset({"delimiter", "encoding", "decimal", "thousands", "quotechar"})
MONEY_UNITS = ("dollars", "cents")


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV file is written. Parquet files ignore these."""

    delimiter: str = ","
    # utf-8-sig reads plain UTF-8 too, and drops the byte-order mark Excel writes.
    encoding: str = "utf-8-sig"
    decimal: str = "."
    thousands: str | None = None
    quotechar: str = '"'


@dataclass(frozen=True)
class Mapping:
    """A validated mapping for one entity.

    Parameters
    ----------
    entity
        The entity it was written for.
    source
        The mapping file (for messages), or None for the identity mapping.
    columns
        File column -> our columns (one file column may feed several of ours).
    values
        Our column -> {file value: our value}; applied to the stripped text before parsing.
    dates
        Our column -> ``strptime`` format of that column in the file.
    defaults
        Our column -> typed value used where a cell is blank.
    constants
        Our column -> typed value for every row (the column is not in the file).
    money_unit
        ``"dollars"`` or ``"cents"`` for every money column of the file.
    true_words, false_words
        Lower-case words read as booleans.
    csv
        CSV dialect options.
    """

    entity: str
    source: Path | None = None
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    money_unit: str = "dollars"
    true_words: frozenset[str] = TRUE_WORDS
    false_words: frozenset[str] = FALSE_WORDS
    csv: CsvOptions = field(default_factory=CsvOptions)

    def text_format(self, column: str) -> TextFormat:
        """How the file writes our column ``column``."""
        return TextFormat(
            decimal=self.csv.decimal,
            thousands=self.csv.thousands,
            date_format=self.dates.get(column, ISO_DATE),
            money_unit=self.money_unit,
            true_words=self.true_words,
            false_words=self.false_words,
        )

    def sources_of(self, column: str) -> list[str]:
        """File columns mapped onto our column ``column``."""
        return [src for src, targets in self.columns.items() if column in targets]


def identity_mapping(spec: EntitySpec) -> Mapping:
    """The mapping of a file that already uses our column names and formats."""
    return Mapping(entity=spec.name)


def load_mapping(path: Path, spec: EntitySpec) -> Mapping:
    """Read and check a TOML mapping file for ``spec``.

    Raises
    ------
    ImportMappingError
        The file is unreadable, not TOML, or names an unknown key, column, unit or value.
    """
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ImportMappingError(f"{path}: cannot read mapping: {exc}", file=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ImportMappingError(f"{path}: not valid TOML: {exc}", file=str(path)) from exc
    return parse_mapping(raw, spec, source=path)


def parse_mapping(raw: dict[str, Any], spec: EntitySpec, *, source: Path | None = None) -> Mapping:
    """Check a mapping given as a dict (the parsed TOML) and return it typed."""
    checker = _Checker(spec, source)
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        checker.fail(unknown[0], f"unknown key; allowed: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    entity = raw.get("entity", spec.name)
    if entity != spec.name:
        checker.fail("entity", f"mapping is for {entity!r}, not {spec.name!r}")
    csv = checker.csv(raw.get("csv", {}))
    columns = checker.columns(raw.get("columns", {}))
    values = checker.values(raw.get("values", {}))
    dates = checker.dates(raw.get("dates", {}))
    money_unit, true_words, false_words = checker.units(
        raw.get("money", {}), raw.get("booleans", {})
    )
    constants = checker.typed_values("constants", raw.get("constants", {}))
    for name in constants:
        sources = [src for src, targets in columns.items() if name in targets]
        if sources:
            checker.fail(
                f"constants.{name}",
                f"column {name!r} is also mapped from file column(s) "
                + ", ".join(repr(s) for s in sources),
            )
    defaults = checker.typed_values("defaults", raw.get("defaults", {}))
    return Mapping(
        entity=spec.name,
        source=source,
        columns=columns,
        values=values,
        dates=dates,
        defaults=defaults,
        constants=constants,
        money_unit=money_unit,
        true_words=true_words,
        false_words=false_words,
        csv=csv,
    )


class _Checker:
    """Checks one mapping's sections; every failure names the file and the key."""

    def __init__(self, spec: EntitySpec, source: Path | None) -> None:
        self.spec = spec
        self.source = source
        self.known = spec.column_names

    def fail(self, key: str, reason: str) -> None:
        where = str(self.source) if self.source else "mapping"
        raise ImportMappingError(f"{where}: {key}: {reason}", file=where, key=key)

    def table(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        assert isinstance(value, dict)
        return value

    def target(self, key: str, name: Any) -> str:
        if not isinstance(name, str) or name not in self.known:
            self.fail(
                key,
                f"unknown column {name!r} for {self.spec.name}; known: {', '.join(self.known)}",
            )
        assert isinstance(name, str)
        return name

    def csv(self, raw: Any) -> CsvOptions:
        section = self.table("csv", raw)
        for key, value in section.items():
            if key not in CSV_KEYS:
                self.fail(f"csv.{key}", f"unknown key; allowed: {', '.join(sorted(CSV_KEYS))}")
            if not isinstance(value, str) or (key != "encoding" and len(value) != 1):
                self.fail(
                    f"csv.{key}",
                    "must be a single character" if key != "encoding" else "must be a string",
                )
        if section.get("encoding"):
            try:
                codecs.lookup(section["encoding"])
            except LookupError:
                self.fail("csv.encoding", f"unknown encoding {section['encoding']!r}")
        options = CsvOptions(**section)
        if options.decimal == options.thousands:
            self.fail("csv.thousands", "must differ from the decimal separator")
        return options

    def columns(self, raw: Any) -> dict[str, tuple[str, ...]]:
        section = self.table("columns", raw)
        out: dict[str, tuple[str, ...]] = {}
        seen: dict[str, str] = {}
        for source, targets in section.items():
            key = f"columns.{source}"
            names = targets if isinstance(targets, list) else [targets]
            if not names:
                self.fail(key, "maps to no column")
            checked = tuple(self.target(key, t) for t in names)
            for name in checked:
                if name in seen:
                    self.fail(key, f"column {name!r} is already mapped from {seen[name]!r}")
                seen[name] = source
            out[source] = checked
        return out

    def values(self, raw: Any) -> dict[str, dict[str, str]]:
        section = self.table("values", raw)
        out: dict[str, dict[str, str]] = {}
        for column, table in section.items():
            key = f"values.{column}"
            self.target(key, column)
            pairs = self.table(key, table)
            out[column] = {str(k).strip(): _text(v) for k, v in pairs.items()}
        return out

    def dates(self, raw: Any) -> dict[str, str]:
        section = self.table("dates", raw)
        for column, fmt in section.items():
            key = f"dates.{column}"
            self.target(key, column)
            if self.spec.column(column).kind is not Kind.DATE:
                self.fail(key, f"column {column!r} is not a date")
            if not isinstance(fmt, str) or "%" not in fmt:
                self.fail(key, f"{fmt!r} is not a strptime format such as '%d/%m/%Y'")
        return dict(section)

    def units(self, money: Any, booleans: Any) -> tuple[str, frozenset[str], frozenset[str]]:
        money_section = self.table("money", money)
        for key in money_section:
            if key != "unit":
                self.fail(f"money.{key}", "unknown key; allowed: unit")
        unit = money_section.get("unit", "dollars")
        if unit not in MONEY_UNITS:
            self.fail("money.unit", f"{unit!r} is not one of {', '.join(MONEY_UNITS)}")
        bool_section = self.table("booleans", booleans)
        words: dict[str, frozenset[str]] = {"true": TRUE_WORDS, "false": FALSE_WORDS}
        for key, value in bool_section.items():
            if key not in words:
                self.fail(f"booleans.{key}", "unknown key; allowed: true, false")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.fail(f"booleans.{key}", "must be a list of words")
            words[key] = frozenset(v.strip().lower() for v in value)
        if words["true"] & words["false"]:
            both = ", ".join(sorted(words["true"] & words["false"]))
            self.fail("booleans", f"word(s) both true and false: {both}")
        return str(unit), words["true"], words["false"]

    def typed_values(self, section_name: str, raw: Any) -> dict[str, Any]:
        """Constants and defaults are written in our format (ISO dates, dollars, enum values)."""
        section = self.table(section_name, raw)
        out: dict[str, Any] = {}
        for column, value in section.items():
            key = f"{section_name}.{column}"
            spec_column = self.spec.column(self.target(key, column))
            parsed, reason = parse_scalar(_text(value), spec_column)
            if reason is not None:
                self.fail(key, reason)
            if parsed is None:
                self.fail(key, "must not be blank")
            out[column] = parsed
        return out


def _text(value: Any) -> str:
    """TOML scalars as the text a cell would hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ImportMappingError(f"unsupported value {value!r} in mapping")
