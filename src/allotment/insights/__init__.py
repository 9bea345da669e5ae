"""Insights over the backlog: the command center, pattern analytics and KPIs.

Plain typed functions on a SQLAlchemy session (no web framework); every figure is aggregated in
the database with portable SQL (SQLite and PostgreSQL). Money is ``Decimal`` USD.
"""
