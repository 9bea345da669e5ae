"""Read a CSV or Parquet file into a frame of text cells, remembering each row's number.

Row numbers are the ones a person sees: for CSV the line in the file where the record starts
(header = line 1, so the first record is line 2 unless a field spans lines); for Parquet the
1-based row index.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from allotment.io.mapping import CsvOptions
from allotment.io.problems import Problem

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass
class RawTable:
    """A file's cells as text.

    Parameters
    ----------
    file
        Name used in messages.
    frame
        One text column per file column (pandas ``str`` dtype, missing = blank).
    rows
        The row number of each frame row, as the user sees it.
    native_dates
        File columns that were stored as dates (Parquet), written here as ISO text.
    problems
        Problems found while reading (bad field counts, undecodable bytes).
    """

    file: str
    frame: pd.DataFrame
    rows: np.ndarray
    native_dates: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


def file_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file's extension."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise ValueError(f"{path.name}: unknown file type {suffix!r}; use .csv or .parquet")


def read_table(path: Path, options: CsvOptions) -> RawTable:
    """Read ``path`` (CSV or Parquet by extension) into text cells."""
    if file_format(path) == "parquet":
        return _read_parquet(path)
    return _read_csv(path, options)


def _empty(name: str, reason: str) -> RawTable:
    return RawTable(
        file=name,
        frame=pd.DataFrame(),
        rows=np.zeros(0, dtype=np.int64),
        problems=[Problem(name, "file", None, reason)],
    )


def _read_csv(path: Path, options: CsvOptions) -> RawTable:
    name = path.name
    problems: list[Problem] = []
    records: list[list[str]] = []
    lines: list[int] = []
    try:
        with path.open(encoding=options.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=options.delimiter, quotechar=options.quotechar)
            header = next(reader, None)
            if header is None:
                return _empty(name, "the file is empty (no header line)")
            header = [h.strip() for h in header]
            width = len(header)
            start = reader.line_num + 1
            for record in reader:
                if not record or (len(record) == 1 and not record[0].strip()):
                    start = reader.line_num + 1
                    continue  # blank line
                if len(record) != width:
                    problems.append(
                        Problem(
                            name,
                            start,
                            None,
                            f"expected {width} fields (as in the header), found {len(record)}",
                        )
                    )
                else:
                    records.append(record)
                    lines.append(start)
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        return _empty(name, f"cannot decode as {options.encoding}: {exc.reason} (set csv.encoding)")
    except csv.Error as exc:
        return _empty(name, f"not a readable CSV file: {exc}")
    seen: set[str] = set()
    for column in header:
        if column in seen or not column:
            problems.append(
                Problem(name, "header", column or None, "duplicate or empty column name")
            )
        seen.add(column)
    frame = (
        pd.DataFrame(records, columns=header, dtype="str")
        if records
        else pd.DataFrame({c: pd.Series([], dtype="str") for c in dict.fromkeys(header)})
    )
    if frame.columns.has_duplicates:
        frame = frame.loc[:, ~frame.columns.duplicated()]
    return RawTable(name, frame, np.asarray(lines, dtype=np.int64), problems=problems)


def _read_parquet(path: Path) -> RawTable:
    name = path.name
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        return _empty(name, f"not a readable Parquet file: {exc}")
    frame = table.to_pandas()
    native_dates: set[str] = set()
    text = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            text[str(column)] = values.map({True: "true", False: "false"}).astype("str")
        elif pd.api.types.is_datetime64_any_dtype(values):
            native_dates.add(str(column))
            text[str(column)] = values.dt.strftime("%Y-%m-%d").astype("str")
        elif values.dtype == object and values.map(lambda v: hasattr(v, "isoformat")).any():
            native_dates.add(str(column))
            text[str(column)] = values.map(
                lambda v: v.isoformat()[:10] if hasattr(v, "isoformat") else v
            ).astype("str")
        else:
            text[str(column)] = values.astype("str").mask(values.isna())
    out = pd.DataFrame(text, index=pd.RangeIndex(len(frame)))
    return RawTable(
        name, out, np.arange(1, len(frame) + 1, dtype=np.int64), native_dates=native_dates
    )
