"""organisation places: the Slack workspaces and Teams tenants an organisation's people come from

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("slack_workspaces", "teams_tenants")


def upgrade() -> None:
    # added in place (never by copying the table that teams, people and rounds point at)
    for name in COLUMNS:  # existing organisations name none: matched as before
        op.add_column(
            "organisation",
            sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""),
        )


def downgrade() -> None:
    # SQLite drops these plain columns in place (3.35+): copying the organisation table would
    # break the foreign keys of every team and person pointing at it
    with op.batch_alter_table("organisation", recreate="never") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
