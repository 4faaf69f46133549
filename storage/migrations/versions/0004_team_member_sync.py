"""team members kept in step with a Slack channel or user group

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-11
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("slack_sync", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        # a membership event looks up the teams kept in step with its channel or group
        batch_op.create_index(batch_op.f("ix_team_slack_sync"), ["slack_sync"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_slack_sync"))
        batch_op.drop_column("slack_sync")
