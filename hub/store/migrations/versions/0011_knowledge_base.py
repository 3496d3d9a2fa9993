"""the knowledge base for smart answers (issue 16): FAQ entries and their versions, the
assistant's record of each question, the message kind ``auto_answer`` and the reply class
``handover``

- ``faq_entry`` (the version in force, by ``faq_id``) and ``faq_entry_version`` (every saved
  version, immutable);
- ``auto_answer``: one question the assistant looked at: the best entry, score, margin, the
  answer as sent, the suggestions, answered or handed over (when, why), the answer page's token;
- message kind ``auto_answer`` (the CHECK on ``campaign``, ``template`` and ``message``) and
  reply class ``handover`` ("人工", the CHECK on ``inbound_reply.classification``). SQLite
  cannot alter a constraint, so there the tables are copied (batch mode); PostgreSQL swaps them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_KIND_TABLES = ('campaign', 'template', 'message')
_KINDS_BEFORE = (
    'credit_warning', 'credit_report', 'policy_push', 'procedure_reminder', 'visit_proposal',
    'visit_reminder', 'ticket_ack', 'ticket_feedback', 'rating_reminder', 'extension_notice',
    'callback_survey', 'deadline_reminder', 'escalation', 'notice', 'credit_report_digest',
    'visit_update', 'officer_task', 'report_delivery',
)
_CLASSES_BEFORE = ('rating', 'unsubscribe', 'visit_answer', 'query', 'help', 'request')


def _check(table: str, name: str, column: str, values: Sequence[str]) -> None:
    condition = f'{column} IN (' + ', '.join(f"'{v}'" for v in values) + ')'
    constraint = op.f(f'ck_{table}_{name}')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table(table, recreate='always') as batch:
            batch.drop_constraint(constraint, type_='check')
            batch.create_check_constraint(constraint, condition)
    else:
        op.drop_constraint(constraint, table, type_='check')
        op.create_check_constraint(constraint, table, condition)


def _allow(kinds: Sequence[str], classes: Sequence[str]) -> None:
    for table in _KIND_TABLES:
        _check(table, 'messagekind', 'kind', kinds)
    _check('inbound_reply', 'replyclass', 'classification', classes)


def upgrade() -> None:
    _allow((*_KINDS_BEFORE, 'auto_answer'), (*_CLASSES_BEFORE, 'handover'))
    op.create_table(
        'faq_entry',
        sa.Column('id', _ID, nullable=False),
        sa.Column('faq_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('alternates', sa.Text(), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('department', sa.String(length=128), nullable=True),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('source', sa.String(length=512), nullable=True),
        sa.Column('retired', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_entry')),
        sa.UniqueConstraint('faq_id', name=op.f('uq_faq_entry_faq_id')),
    )
    op.create_table(
        'faq_entry_version',
        sa.Column('id', _ID, nullable=False),
        sa.Column('faq_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_entry_version')),
        sa.UniqueConstraint(
            'faq_id', 'version', name=op.f('uq_faq_entry_version_faq_id_version')
        ),
    )
    op.create_index(
        op.f('ix_faq_entry_version_faq_id'), 'faq_entry_version', ['faq_id'], unique=False
    )
    op.create_table(
        'auto_answer',
        sa.Column('id', _ID, nullable=False),
        sa.Column('reply_id', _ID, nullable=True),
        sa.Column('ticket_id', _ID, nullable=True),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('entry_id', sa.String(length=96), nullable=True),
        sa.Column('entry_version', sa.Integer(), nullable=True),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('score', sa.Double(), nullable=False),
        sa.Column('margin', sa.Double(), nullable=False),
        sa.Column('answered', sa.Boolean(), nullable=False),
        sa.Column('suggestions', sa.JSON(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('handed_over_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('handover_reason', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ['reply_id'], ['inbound_reply.id'], name=op.f('fk_auto_answer_reply_id_inbound_reply')
        ),
        sa.ForeignKeyConstraint(
            ['ticket_id'], ['ticket.id'], name=op.f('fk_auto_answer_ticket_id_ticket')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_answer')),
        sa.UniqueConstraint('reply_id', name=op.f('uq_auto_answer_reply_id')),
        sa.UniqueConstraint('token', name=op.f('uq_auto_answer_token')),
    )
    op.create_index(op.f('ix_auto_answer_ticket_id'), 'auto_answer', ['ticket_id'], unique=False)
    op.create_index(op.f('ix_auto_answer_entry_id'), 'auto_answer', ['entry_id'], unique=False)
    op.create_index(op.f('ix_auto_answer_answered'), 'auto_answer', ['answered'], unique=False)
    op.create_index(
        op.f('ix_auto_answer_created_at'), 'auto_answer', ['created_at'], unique=False
    )


def downgrade() -> None:
    op.drop_table('auto_answer')
    op.drop_index(op.f('ix_faq_entry_version_faq_id'), table_name='faq_entry_version')
    op.drop_table('faq_entry_version')
    op.drop_table('faq_entry')
    op.execute("DELETE FROM message WHERE kind = 'auto_answer'")
    op.execute("DELETE FROM template WHERE kind = 'auto_answer'")
    op.execute("DELETE FROM campaign WHERE kind = 'auto_answer'")
    op.execute(
        "UPDATE inbound_reply SET classification = 'request' WHERE classification = 'handover'"
    )
    _allow(_KINDS_BEFORE, _CLASSES_BEFORE)
