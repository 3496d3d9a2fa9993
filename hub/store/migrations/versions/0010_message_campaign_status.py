"""the outbox's campaign index carries status: a campaign's messages counted by status (the
admin's campaigns page and ``hub campaigns list``) read the index alone

With 200,000 messages in 50 campaigns on SQLite, ``list_campaigns`` walked
``ix_message_campaign_id`` and fetched every row for its ``status`` (394 ms CPU); with
``status`` in the index it is a covering index search (18 ms). The new index serves every
query the old one did (its prefix).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_message_campaign_status", "message", ["campaign_id", "status"], unique=False
    )
    op.drop_index("ix_message_campaign_id", table_name="message")


def downgrade() -> None:
    op.create_index("ix_message_campaign_id", "message", ["campaign_id"], unique=False)
    op.drop_index("ix_message_campaign_status", table_name="message")
