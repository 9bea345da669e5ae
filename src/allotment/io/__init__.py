"""Import and export of the domain's entities as CSV or Parquet files (README: importing)."""

from __future__ import annotations

from allotment.io.entities import ENTITIES, EntitySpec, get_spec
from allotment.io.exporter import export_entity
from allotment.io.importer import ImportResult, ImportSource, import_file, import_files
from allotment.io.mapping import Mapping, load_mapping

__all__ = [
    "ENTITIES",
    "EntitySpec",
    "ImportResult",
    "ImportSource",
    "Mapping",
    "export_entity",
    "get_spec",
    "import_file",
    "import_files",
    "load_mapping",
]
