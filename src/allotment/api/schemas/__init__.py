"""Request and response bodies (``XRead``, ``XCreate``), one module per domain."""
