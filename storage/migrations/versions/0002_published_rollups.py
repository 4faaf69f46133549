"""published rollups; reminders per round

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pulse_round", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reminded", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("report_week", sa.Date(), nullable=True))
    op.create_table(
        "rollup_cut",
        sa.Column("week", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("week"),
    )
    op.create_table(
        "rollup_cell",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("theme", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("squares", sa.Float(), nullable=False),
        sa.Column("favourable", sa.Integer(), nullable=False),
        sa.Column("unfavourable", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("team_id", "week", "theme"),
    )
    op.create_table(
        "rollup_week",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("comments_published", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("team_id", "week"),
    )
    # a week's rebuild deletes its rows by week
    op.create_index("ix_rollup_cell_week", "rollup_cell", ["week"])
    op.create_index("ix_rollup_week_week", "rollup_week", ["week"])


def downgrade() -> None:
    op.drop_table("rollup_cut")
    with op.batch_alter_table("pulse_round", schema=None) as batch_op:
        batch_op.drop_column("report_week")
        batch_op.drop_column("reminded")
    op.drop_index("ix_rollup_week_week", table_name="rollup_week")
    op.drop_index("ix_rollup_cell_week", table_name="rollup_cell")
    op.drop_table("rollup_week")
    op.drop_table("rollup_cell")
