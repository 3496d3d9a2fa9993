"""Storage: SQLAlchemy models, the database handle, repositories, Alembic migrations, and
the one insert-ignore for SQLite and PostgreSQL (``dialect``).

May import hub.core, hub.infra and hub.config (no feature package; known exceptions are
listed in pyproject's import-linter contracts).
"""
