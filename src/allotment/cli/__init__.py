"""The ``allotment`` command line."""
