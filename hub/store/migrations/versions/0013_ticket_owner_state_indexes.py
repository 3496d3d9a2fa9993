"""tickets by enterprise or contact AND state (issue 17): two composite indexes

- ``ix_ticket_enterprise_state`` (enterprise_id, state) replaces ``ix_ticket_enterprise_id``,
  ``ix_ticket_contact_state`` (contact_id, state) replaces ``ix_ticket_contact_id`` (each still
  serves lookups by the id alone). The inbound worker reads a chunk's enterprises' open tickets
  and contacts' resolved ones (``... IN (ids) AND state IN (...)``); with the single-column
  indexes SQLite's planner chose ``ix_ticket_state_deadline`` and read every open ticket of the
  city for each chunk (81 us at 686 tickets, growing with them; 19 us with these).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_ticket_enterprise_state", "ticket", ["enterprise_id", "state"])
    op.create_index("ix_ticket_contact_state", "ticket", ["contact_id", "state"])
    op.drop_index("ix_ticket_enterprise_id", table_name="ticket")
    op.drop_index("ix_ticket_contact_id", table_name="ticket")


def downgrade() -> None:
    op.create_index("ix_ticket_contact_id", "ticket", ["contact_id"])
    op.create_index("ix_ticket_enterprise_id", "ticket", ["enterprise_id"])
    op.drop_index("ix_ticket_contact_state", table_name="ticket")
    op.drop_index("ix_ticket_enterprise_state", table_name="ticket")
