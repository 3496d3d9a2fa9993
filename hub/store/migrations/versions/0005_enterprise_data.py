"""enterprise data (一企一档, issue 13): credit events, policies, licences, annual-report filings

``credit_record`` and ``policy`` from 0001 were read and written by nothing (always empty), so
they are dropped and replaced rather than altered: ``credit_event`` keyed by the feed's event id,
``policy`` keyed by its policy id with its eligibility lists.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 17:40:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    ]


def _enterprise_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ['enterprise_id'], ['enterprise.id'], name=op.f(f'fk_{table}_enterprise_id_enterprise')
    )


def upgrade() -> None:
    op.drop_index(op.f('ix_credit_record_enterprise_id'), table_name='credit_record')
    op.drop_table('credit_record')
    op.drop_table('policy')

    op.create_table('credit_event',
    sa.Column('id', _ID, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('enterprise_id', _ID, nullable=False),
    sa.Column('type', sa.Enum('dishonest_debtor', 'abnormal_operation', 'admin_penalty', 'serious_dishonesty', name='crediteventtype', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('authority', sa.String(length=128), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('active', 'repaired', 'removed', name='crediteventstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('repaired_on', sa.Date(), nullable=True),
    *_timestamps(),
    _enterprise_fk('credit_event'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_event')),
    sa.UniqueConstraint('event_id', name=op.f('uq_credit_event_event_id'))
    )
    op.create_index(op.f('ix_credit_event_enterprise_id'), 'credit_event', ['enterprise_id'])

    op.create_table('policy',
    sa.Column('id', _ID, nullable=False),
    sa.Column('policy_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=256), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('department', sa.String(length=128), nullable=True),
    sa.Column('apply_by', sa.Date(), nullable=True),
    sa.Column('free_apply', sa.Boolean(), nullable=False),
    sa.Column('url', sa.String(length=512), nullable=True),
    sa.Column('industries', sa.Text(), nullable=False),
    sa.Column('tiers', sa.Text(), nullable=False),
    sa.Column('regions', sa.Text(), nullable=False),
    sa.Column('stages', sa.Text(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    *_timestamps(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy')),
    sa.UniqueConstraint('policy_id', name=op.f('uq_policy_policy_id'))
    )

    op.create_table('licence',
    sa.Column('id', _ID, nullable=False),
    sa.Column('enterprise_id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('authority', sa.String(length=128), nullable=True),
    sa.Column('renewed_on', sa.Date(), nullable=True),
    *_timestamps(),
    _enterprise_fk('licence'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licence')),
    sa.UniqueConstraint('enterprise_id', 'kind', 'number', name=op.f('uq_licence_enterprise_id_kind_number'))
    )
    op.create_index(op.f('ix_licence_enterprise_id'), 'licence', ['enterprise_id'])
    op.create_index(op.f('ix_licence_expires_on'), 'licence', ['expires_on'])

    op.create_table('annual_report',
    sa.Column('id', _ID, nullable=False),
    sa.Column('enterprise_id', _ID, nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    *_timestamps(),
    _enterprise_fk('annual_report'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annual_report')),
    sa.UniqueConstraint('enterprise_id', 'year', name=op.f('uq_annual_report_enterprise_id_year'))
    )
    op.create_index(op.f('ix_annual_report_enterprise_id'), 'annual_report', ['enterprise_id'])


def downgrade() -> None:
    op.drop_table('annual_report')
    op.drop_table('licence')
    op.drop_table('policy')
    op.drop_table('credit_event')
    # 0001's tables, as they were
    op.create_table('policy',
    sa.Column('id', _ID, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=256), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=512), nullable=True),
    sa.Column('issuer', sa.String(length=128), nullable=True),
    sa.Column('audience', sa.Text(), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    *_timestamps(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy')),
    sa.UniqueConstraint('code', name=op.f('uq_policy_code'))
    )
    op.create_table('credit_record',
    sa.Column('id', _ID, nullable=False),
    sa.Column('enterprise_id', _ID, nullable=False),
    sa.Column('status', sa.Enum('good', 'warning', 'dishonest', name='creditstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('repair_guidance', sa.Text(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    _enterprise_fk('credit_record'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_record')),
    sa.UniqueConstraint('external_id', name=op.f('uq_credit_record_external_id'))
    )
    op.create_index(op.f('ix_credit_record_enterprise_id'), 'credit_record', ['enterprise_id'])
