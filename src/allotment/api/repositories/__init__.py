"""Read-side SQL of the service (lists, details). Keyword-only, typed; never commits."""
