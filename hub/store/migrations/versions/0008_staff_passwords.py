"""staff passwords for the web admin (issue 15): the argon2 hash, the count of wrong
passwords in a row and the end of a lockout

- ``staff.password_hash``: argon2id (None: the account cannot sign in to /admin/);
- ``staff.failed_logins``: wrong passwords since the last sign-in or lockout;
- ``staff.locked_until``: sign-in refused until then (after too many wrong passwords);
- ``audit_log``: indexes on (actor, id) and (action, id), for the admin's audit page (one
  staff member's or one action's entries, newest first).

The role ``officer`` needs no schema change: ``staff.role`` is free text the code checks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.add_column(sa.Column('password_hash', sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0')
        )
        batch.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_audit_log_actor_id', 'audit_log', ['actor', 'id'])
    op.create_index('ix_audit_log_action_id', 'audit_log', ['action', 'id'])


def downgrade() -> None:
    op.drop_index('ix_audit_log_action_id', table_name='audit_log')
    op.drop_index('ix_audit_log_actor_id', table_name='audit_log')
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('locked_until')
        batch.drop_column('failed_logins')
        batch.drop_column('password_hash')
