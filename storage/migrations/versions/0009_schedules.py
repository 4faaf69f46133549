"""schedules: a team's round length, a round's turnout warning, people's own schedules

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # added in place (never by copying the tables that rounds, deliveries and answers point at)
    op.add_column("team", sa.Column("round_days", sa.Integer(), nullable=True))
    op.add_column(
        "pulse_round",
        sa.Column("turnout_warned", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "person_schedule",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("pattern", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("quiet_start", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("quiet_end", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("away_until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("person_schedule")
    # SQLite drops these plain columns in place (3.35+): copying the tables that rounds,
    # deliveries and answers point at would break their foreign keys
    with op.batch_alter_table("pulse_round", recreate="never") as batch:
        batch.drop_column("turnout_warned")
    with op.batch_alter_table("team", recreate="never") as batch:
        batch.drop_column("round_days")
