"""Storage: SQLAlchemy models, the database handle, repositories, Alembic migrations, and
the one insert-ignore for SQLite and PostgreSQL (``dialect``).

May import hub.core, hub.infra and hub.config; no feature package (what a stored template or
schedule means is hub.rendering's and hub.scheduling's: the store keeps rows).
"""
