"""Allotment: ML-assisted decision support for backorder prioritization and allocation."""

__version__ = "0.1.0"
