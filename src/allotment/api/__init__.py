"""The HTTP service (FastAPI). Nothing below this package imports FastAPI."""
