"""an officer account's liaison officer (issue 15): ``staff.officer_id``

- ``staff.officer_id``: the ``officer`` row a staff account of role ``officer`` stands for
  (nullable, indexed). Such an account sees only the enterprises whose officer it is, their
  tickets and visits; without the link it sees none. Until now the admin's visits page matched
  the username to the officer's code; that rule is gone, so existing officer accounts are linked
  here the same way (a username that is an officer's code), and stay unlinked otherwise.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.add_column(sa.Column('officer_id', _ID, nullable=True))
        batch.create_index(batch.f('ix_staff_officer_id'), ['officer_id'], unique=False)
        batch.create_foreign_key(
            batch.f('fk_staff_officer_id_officer'), 'officer', ['officer_id'], ['id']
        )
    # The rule the visits page used (username == officer code), kept for accounts made by it.
    op.execute(
        "UPDATE staff SET officer_id = (SELECT officer.id FROM officer"
        " WHERE officer.code = UPPER(staff.username))"
        " WHERE role = 'officer'"
    )


def downgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.drop_constraint(batch.f('fk_staff_officer_id_officer'), type_='foreignkey')
        batch.drop_index(batch.f('ix_staff_officer_id'))
        batch.drop_column('officer_id')
