"""a partial index on the replies not yet classified (the reconciler's requeue looks for them
every pass; without it each pass read the whole inbound_reply table)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_inbound_reply_unclassified', 'inbound_reply', ['id'], unique=False,
        sqlite_where=sa.text('classified_at IS NULL'),
        postgresql_where=sa.text('classified_at IS NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_inbound_reply_unclassified', table_name='inbound_reply')
