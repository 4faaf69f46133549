"""comment counts and moods kept in the rollups, counted for every week already cut; kudos by day

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KUDOS_BY_DAY = "ix_recognition_created_on"
CELL = ("comments", "moods", "mood_total")
WEEK = ("general_comments", "general_moods", "general_mood_total")

# every cut week's tree as cut, as reports walked it (tests/comment_oracle._tree_as_cut): each row's
# team as ``top`` with every team reached down from it through that week's rows (``UNION``: a
# cycle ends the walk)
_WALK = """
WITH RECURSIVE walk (week, top, team_id) AS (
    SELECT week, team_id, team_id FROM rollup_week
    UNION
    SELECT below.week, walk.top, below.team_id
    FROM rollup_week AS below JOIN walk ON below.parent_id = walk.team_id AND below.week = walk.week
)
"""

# a theme's comments in a cell: of rounds the week counted, in its tree as cut, on that theme
_CELLS = (
    _WALK
    + """
UPDATE rollup_cell SET comments = counted.n, moods = counted.m, mood_total = counted.s
FROM (
    SELECT walk.top AS team_id, walk.week AS week, question.theme AS theme, count(*) AS n,
           count(response.sentiment) AS m, coalesce(sum(response.sentiment), 0) AS s
    FROM walk
    JOIN pulse_round ON pulse_round.team_id = walk.team_id AND pulse_round.counted_in = walk.week
    JOIN response ON response.round_id = pulse_round.id
    JOIN question ON question.id = response.question_id
    WHERE response.comment IS NOT NULL
    GROUP BY walk.top, walk.week, question.theme
) AS counted
WHERE rollup_cell.team_id = counted.team_id AND rollup_cell.week = counted.week
  AND rollup_cell.theme = counted.theme
"""
)

# the general comments of a week row: of rounds the week counted, in its tree as cut
_WEEKS = (
    _WALK
    + """
UPDATE rollup_week
SET general_comments = counted.n, general_moods = counted.m, general_mood_total = counted.s
FROM (
    SELECT walk.top AS team_id, walk.week AS week, count(*) AS n,
           count(general_comment.sentiment) AS m, coalesce(sum(general_comment.sentiment), 0) AS s
    FROM walk
    JOIN pulse_round ON pulse_round.team_id = walk.team_id AND pulse_round.counted_in = walk.week
    JOIN general_comment ON general_comment.round_id = pulse_round.id
    GROUP BY walk.top, walk.week
) AS counted
WHERE rollup_week.team_id = counted.team_id AND rollup_week.week = counted.week
"""
)


def _columns(names: tuple[str, str, str]) -> list[sa.Column[object]]:
    count, moods, total = names
    return [
        sa.Column(count, sa.Integer(), nullable=False, server_default="0"),
        sa.Column(moods, sa.Integer(), nullable=False, server_default="0"),
        sa.Column(total, sa.Float(), nullable=False, server_default="0"),
    ]


def upgrade() -> None:
    # how many comments a report says there are, and their mood, read from the rollups instead
    # of every answer of its comment weeks (surveys/comment_counts.py); counted here for the
    # weeks already cut, by the rules a report shows comments by (docs/anonymity.md)
    with op.batch_alter_table("rollup_cell", schema=None) as batch_op:
        for column in _columns(CELL):
            batch_op.add_column(column)
    with op.batch_alter_table("rollup_week", schema=None) as batch_op:
        for column in _columns(WEEK):
            batch_op.add_column(column)
    op.execute(_CELLS)
    op.execute(_WEEKS)
    # a trust's kudos count filters by day alone (its teams are all of them)
    op.create_index(KUDOS_BY_DAY, "recognition", ["created_on"])


def downgrade() -> None:
    op.drop_index(KUDOS_BY_DAY, table_name="recognition")
    with op.batch_alter_table("rollup_week", schema=None) as batch_op:
        for name in WEEK:
            batch_op.drop_column(name)
    with op.batch_alter_table("rollup_cell", schema=None) as batch_op:
        for name in CELL:
            batch_op.drop_column(name)
