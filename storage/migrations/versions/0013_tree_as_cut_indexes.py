"""rollup_week by parent and week, rounds by team and week: a report walks each week's tree as cut

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_rollup_week_parent_week"
ROUNDS = "ix_pulse_round_team_counted"


def upgrade() -> None:
    # the walk down a week's tree as cut (surveys/comment_picks.py) joins a week's rows on
    # (parent_id, week): without this it reads every team's row of the week at each step.
    # team_id too, so each step reads the index alone: PostgreSQL then walks by index, where
    # with (parent_id, week) only it hashed the whole table at every step (88 ms, not 4, a ward)
    op.create_index(INDEX, "rollup_week", ["parent_id", "week", "team_id"])
    # the walk's (week, team) pairs then find their rounds by exactly that pair: by the week
    # alone SQLite read a whole week's rounds for each pair of a ward (130 ms, not 3)
    op.create_index(ROUNDS, "pulse_round", ["team_id", "counted_in"])


def downgrade() -> None:
    op.drop_index(ROUNDS, table_name="pulse_round")
    op.drop_index(INDEX, table_name="rollup_week")
