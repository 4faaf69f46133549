"""the week a round counts in, indexed: a week's cut finds its rounds without scanning them all

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_pulse_round_counted_week"


def upgrade() -> None:
    # an index on the expression the cut's queries use (surveys/rollup_rows.counted_week), so no
    # backfill of report_week and no change to the column: SQLite and PostgreSQL both match it
    op.create_index(INDEX, "pulse_round", [sa.text("coalesce(report_week, opened_on)")])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="pulse_round")
