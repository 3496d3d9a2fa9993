"""message kind credit_report_digest: the liaison officer's digest of the half-yearly credit
reports (issue 13)

The message kind is a VARCHAR with a CHECK listing the kinds (``hub.store.types.enum_column``) on
``campaign``, ``template`` and ``message``; this widens each CHECK by the new kind. SQLite cannot
alter a constraint, so there the three tables are copied (batch mode); PostgreSQL swaps them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 18:50:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ('campaign', 'template', 'message')
_BEFORE = (
    'credit_warning', 'credit_report', 'policy_push', 'procedure_reminder', 'visit_proposal',
    'visit_reminder', 'ticket_ack', 'ticket_feedback', 'rating_reminder', 'extension_notice',
    'callback_survey', 'deadline_reminder', 'escalation', 'notice',
)
_AFTER = (*_BEFORE, 'credit_report_digest')


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
    _allow(_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM message WHERE kind = 'credit_report_digest'")
    op.execute("DELETE FROM template WHERE kind = 'credit_report_digest'")
    op.execute("DELETE FROM campaign WHERE kind = 'credit_report_digest'")
    _allow(_BEFORE)
