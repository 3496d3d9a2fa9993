"""Storage: SQLAlchemy models, the database handle, repositories, Alembic migrations, and
the one insert-ignore for SQLite and PostgreSQL (``dialect``).

May import hub.core and hub.infra; no feature package (what a stored template or
schedule means is hub.rendering's and hub.scheduling's: the store keeps rows).
"""
