"""liaison visits (issue 14): the visit plan and appointment, officers' recorded contacts,
tickets from problems found on a visit, and the message kinds to officers and the office

- ``visit``: ``due_on`` (the working day the plan spread it to), ``slots`` (the times offered),
  ``proposed_at`` (when the proposal went), and an index on (officer, due day);
- ``liaison_contact``: a contact an officer recorded (phone, meeting, online);
- ``ticket.source_visit_id``: the visit a problem was found on;
- message kinds ``visit_update``, ``officer_task``, ``report_delivery`` (the kind CHECK on
  ``campaign``, ``template`` and ``message`` widened, as in 0006).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TABLES = ('campaign', 'template', 'message')
_BEFORE = (
    'credit_warning', 'credit_report', 'policy_push', 'procedure_reminder', 'visit_proposal',
    'visit_reminder', 'ticket_ack', 'ticket_feedback', 'rating_reminder', 'extension_notice',
    'callback_survey', 'deadline_reminder', 'escalation', 'notice', 'credit_report_digest',
)
_NEW = ('visit_update', 'officer_task', 'report_delivery')


def _allow(kinds: Sequence[str]) -> None:
    condition = 'kind IN (' + ', '.join(f"'{k}'" for k in kinds) + ')'
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table in _TABLES:
        name = op.f(f'ck_{table}_messagekind')
        if sqlite:
            with op.batch_alter_table(table, recreate='always') as batch:
                batch.drop_constraint(name, type_='check')
                batch.create_check_constraint(name, condition)
        else:
            op.drop_constraint(name, table, type_='check')
            op.create_check_constraint(name, table, condition)


def upgrade() -> None:
    _allow((*_BEFORE, *_NEW))
    with op.batch_alter_table('visit') as batch:
        batch.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('slots', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_visit_officer_due', ['officer_id', 'due_on'])
    with op.batch_alter_table('ticket') as batch:
        batch.add_column(sa.Column('source_visit_id', _ID, nullable=True))
        batch.create_foreign_key(
            op.f('fk_ticket_source_visit_id_visit'), 'visit', ['source_visit_id'], ['id']
        )
        batch.create_index(op.f('ix_ticket_source_visit_id'), ['source_visit_id'])
    op.create_table('liaison_contact',
    sa.Column('id', _ID, nullable=False),
    sa.Column('enterprise_id', _ID, nullable=False),
    sa.Column('officer_id', _ID, nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('via', sa.Enum('phone', 'meeting', 'online', name='contactvia', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_liaison_contact_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], name=op.f('fk_liaison_contact_officer_id_officer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_liaison_contact'))
    )
    op.create_index('ix_liaison_contact_enterprise_at', 'liaison_contact', ['enterprise_id', 'at'])
    op.create_index(op.f('ix_liaison_contact_officer_id'), 'liaison_contact', ['officer_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_liaison_contact_officer_id'), table_name='liaison_contact')
    op.drop_index('ix_liaison_contact_enterprise_at', table_name='liaison_contact')
    op.drop_table('liaison_contact')
    with op.batch_alter_table('ticket') as batch:
        batch.drop_index(op.f('ix_ticket_source_visit_id'))
        batch.drop_constraint(op.f('fk_ticket_source_visit_id_visit'), type_='foreignkey')
        batch.drop_column('source_visit_id')
    with op.batch_alter_table('visit') as batch:
        batch.drop_index('ix_visit_officer_due')
        batch.drop_column('proposed_at')
        batch.drop_column('slots')
        batch.drop_column('due_on')
    for kind in _NEW:
        for table in ('message', 'template', 'campaign'):
            op.execute(f"DELETE FROM {table} WHERE kind = '{kind}'")
    _allow(_BEFORE)
