"""Which migration the code ships and which the database is at, without importing Alembic.

Every ``hub`` process checks the schema on start (``hub.app.runtime.open_database``); Alembic and
Mako cost ~12 MB of resident memory per process, so this reads the ``revision`` /
``down_revision`` lines of the migration files and the ``alembic_version`` table directly.
``hub.store.migrate`` (Alembic itself) is for upgrading; a test holds the two to the same head.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import sqlalchemy as sa

from hub.store.db import Database

VERSIONS = Path(__file__).parent / "migrations" / "versions"


def _assigned(module: ast.Module, name: str) -> str | None:
    for node in module.body:
        target: ast.expr | None = None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == name and isinstance(value, ast.Constant):
            return value.value if isinstance(value.value, str) else None
    raise ValueError(f"migration without a literal {name}")


@functools.cache
def head_revision() -> str | None:
    """The newest migration shipped with this code: the one no other migration follows."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(VERSIONS.glob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        revision = _assigned(module, "revision")
        if revision is None:
            raise ValueError(f"{path.name}: revision is not a string")
        revisions.add(revision)
        down = _assigned(module, "down_revision")
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    if len(heads) > 1:
        raise ValueError(f"migrations have several heads: {sorted(heads)}")
    return next(iter(heads), None)


async def current_revision(db: Database) -> str | None:
    """The migration the database is at, or None for an empty database."""
    async with db.engine.connect() as connection:
        has_table = await connection.run_sync(
            lambda sync: sa.inspect(sync).has_table("alembic_version")
        )
        if not has_table:
            return None
        version = await connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return str(version) if version is not None else None
