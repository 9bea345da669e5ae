"""The dashboard's routers, one per section."""
