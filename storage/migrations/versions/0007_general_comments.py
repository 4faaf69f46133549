"""general comments: a comment about a pulse card as a whole, tied to no statement

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # no person, card id, score or day; on SQLite WITHOUT ROWID, so the file keeps no order
    op.create_table(
        "general_comment",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["pulse_round.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("general_comment", schema=None) as batch_op:
        batch_op.create_index("ix_general_comment_round", ["round_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("general_comment", schema=None) as batch_op:
        batch_op.drop_index("ix_general_comment_round")
    op.drop_table("general_comment")
