"""inbound events seen (redelivery dedupe across replicas)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_event",
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "event_id"),
    )
    # pruning deletes by age
    op.create_index("ix_inbound_event_received_at", "inbound_event", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_event_received_at", table_name="inbound_event")
    op.drop_table("inbound_event")
