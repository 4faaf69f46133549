"""rounds stamped with the week that counted them; each team's parent as the week was cut

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROUND = sa.table(
    "pulse_round",
    sa.column("id", sa.Integer()),
    sa.column("opened_on", sa.Date()),
    sa.column("report_week", sa.Date()),
    sa.column("closed", sa.Boolean()),
    sa.column("counted_in", sa.Date()),
)
_CUT = sa.table("rollup_cut", sa.column("week", sa.Date()))


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _stamp_rounds() -> None:
    """Closed rounds that stayed in their own week, and that week is cut, were counted there:
    they were open when it was cut, and the old code cut a week only once all its rounds had
    closed.  A closed round moved to a later week (opened after its week was cut) is left
    unstamped: that later week may have been cut before it closed, so it may never have been
    counted, and an unstamped round's comments never show.  An open round whose week is already
    cut (a late round: the bug this revision fixes) moves to the first uncut week after, so it
    will be counted and shown once that week is cut."""
    connection = op.get_bind()
    cut = {row.week for row in connection.execute(sa.select(_CUT.c.week))}
    rounds = connection.execute(
        sa.select(_ROUND.c.id, _ROUND.c.opened_on, _ROUND.c.report_week, _ROUND.c.closed)
    ).all()
    for round_id, opened_on, report_week, closed in rounds:
        week = _week_of(report_week or opened_on)
        if week not in cut:
            continue
        if closed:
            if week != _week_of(opened_on):
                continue  # bumped to a later week: not provably counted
            values = {"counted_in": week}
        else:
            while week in cut:
                week += timedelta(days=7)
            values = {"report_week": week}
        connection.execute(sa.update(_ROUND).where(_ROUND.c.id == round_id).values(**values))


def _add_unsure() -> None:
    """Participation.unsure: how many of a round's answers may repeat someone's (a round-level
    count; see surveys/participation.py)."""
    with op.batch_alter_table("participation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unsure", sa.Integer(), nullable=False, server_default="0"))


def _drop_unsure() -> None:
    with op.batch_alter_table("participation", schema=None) as batch_op:
        batch_op.drop_column("unsure")


def upgrade() -> None:
    with op.batch_alter_table("pulse_round", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counted_in", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_pulse_round_counted_in"), ["counted_in"])
    with op.batch_alter_table("rollup_week", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
    # comments published per theme: cells cut before this revision publish none (their themes
    # were never checked on their own)
    with op.batch_alter_table("rollup_cell", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("comments_published", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _stamp_rounds()
    # weeks cut before this revision: the best record of their hierarchy is today's
    op.execute(
        "UPDATE rollup_week SET parent_id = "
        "(SELECT team.parent_id FROM team WHERE team.id = rollup_week.team_id)"
    )
    _add_unsure()


def downgrade() -> None:
    _drop_unsure()
    with op.batch_alter_table("rollup_cell", schema=None) as batch_op:
        batch_op.drop_column("comments_published")
    with op.batch_alter_table("rollup_week", schema=None) as batch_op:
        batch_op.drop_column("parent_id")
    with op.batch_alter_table("pulse_round", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pulse_round_counted_in"))
        batch_op.drop_column("counted_in")
