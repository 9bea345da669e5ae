"""One router module per domain; :mod:`allotment.api.app` mounts them under ``/api/v1``."""
