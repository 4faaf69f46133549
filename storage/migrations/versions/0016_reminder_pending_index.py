"""reminder rows not yet claimed, indexed in claim order: a claim reads those alone

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "ix_reminder_pending"
DONE = "ix_reminder_done"


def upgrade() -> None:
    # ``done`` alone could not give the claim its rows in ``id`` order, so the claim read the
    # primary key from the first reminder ever and skipped every row already done: each claim
    # read more than the one before (surveys/outbox.claimable_reminders)
    op.create_index(PENDING, "reminder", ["done", "id"])
    op.drop_index(DONE, table_name="reminder")


def downgrade() -> None:
    op.create_index(DONE, "reminder", ["done"])
    op.drop_index(PENDING, table_name="reminder")
