"""A report's comments: a bounded random sample of the published ones, drawn in SQL, with how
many there are in all and their mood.

Which comments are published is decided exactly as before (docs/anonymity.md): only from the
reported team's published comment weeks, only from rounds that week's cut counted, only from teams
below it as that week was cut, and a comment on a statement only where its (week, theme) cell
publishes comments.  Every one of those conditions is in the SQL ``WHERE``/``JOIN``, so the
count, the mood and the sample all range over the published comments and nothing else: the sample
can only hold comments that showing them all would have shown.

The database draws the sample (``ORDER BY random() LIMIT n``) and computes the count and the
mean polarity over every published comment in the same statement (window aggregates, computed
before the ``LIMIT``), so a trust's report no longer carries tens of thousands of comments into
Python.  It still visits every answer of the scope's comment weeks to find and count them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import CTE, Result, Select, String, and_, cast, func, null, union_all
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    GeneralComment,
    PulseRound,
    Question,
    Response,
    RollupCell,
    RollupWeek,
)
from surveys.bank import load_bank

GENERAL = "General"  # the label of comments tied to no statement
SAMPLE = 10  # comments a report shows: as many as Slack's and Teams' reports lay out


@dataclass
class Comments:
    """``shown``: (theme or "General", words), in random order; ``total``: every published
    comment of the scope, of which ``shown`` is a uniform sample; ``mood``: their mean polarity
    (None when none has one)."""

    shown: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0
    mood: float | None = None


async def _run(session: AsyncSession, query: Select[Any]) -> Result[Any]:
    connection = await session.connection()
    return await connection.execute(query)


def _tree_as_cut(team_id: int, weeks: set[date]) -> CTE:
    """(week, team): the team and every team below it as each of ``weeks`` was cut
    (``rollup_week.parent_id``).  A team moved in since counted elsewhere then, and its comments
    are not part of this team's published figures for that week; a team with nobody invited that
    week has no row, and neither has any team below it.  Walked in SQL from the team down through
    ``ix_rollup_week_parent_week``, so a ward's report reads its own rows, not the organisation's.
    ``UNION``, not ``UNION ALL``, so that a cycle in the rows would end the walk."""
    seed: Select[Any] = select_columns(
        col(RollupWeek.week).label("week"), col(RollupWeek.team_id).label("team_id")
    ).where(col(RollupWeek.team_id) == team_id, col(RollupWeek.week).in_(weeks))
    tree = seed.cte("tree", recursive=True)
    below = aliased(RollupWeek, name="below")
    step = select_columns(col(below.week), col(below.team_id)).join(
        tree, and_(col(below.parent_id) == tree.c.team_id, col(below.week) == tree.c.week)
    )
    return tree.union(step)


def _counted_rounds(team_id: int, weeks: set[date]) -> Select[Any]:
    """The rounds that a comment week's cut counted, in a team of that week's tree as cut.
    Each (week, team) finds its rounds through ``ix_pulse_round_team_counted``.  A subquery, so
    both databases reach the answers through their round index.  The weeks are also named as a
    list: PostgreSQL cannot tell a walk's size, and without them it hashed every round there is."""
    tree = _tree_as_cut(team_id, weeks)
    return (
        select(col(PulseRound.id))
        .correlate(None)  # (its own rounds, not the enclosing answer's)
        .join(
            tree,
            and_(
                tree.c.team_id == col(PulseRound.team_id),
                tree.c.week == col(PulseRound.counted_in),
            ),
        )
        .where(col(PulseRound.counted_in).in_(weeks))
    )


def _published(team_id: int, counted: Select[Any]) -> Any:
    """Every published comment of the team's comment weeks: (theme or NULL, words, mood)."""
    tied: Select[Any] = (
        select_columns(
            col(Question.theme).label("theme"),
            col(Response.comment).label("words"),
            col(Response.sentiment).label("mood"),
        )
        .join(PulseRound, col(PulseRound.id) == col(Response.round_id))
        .join(Question, col(Question.id) == col(Response.question_id))
        .join(
            RollupCell,
            and_(
                col(RollupCell.team_id) == team_id,
                col(RollupCell.week) == col(PulseRound.counted_in),
                col(RollupCell.theme) == col(Question.theme),
            ),
        )
        .where(
            col(Response.round_id).in_(counted),
            col(Response.comment).is_not(None),
            col(RollupCell.comments_published).is_(True),
        )
    )
    general: Select[Any] = select_columns(
        cast(null(), String).label("theme"),
        col(GeneralComment.comment).label("words"),
        col(GeneralComment.sentiment).label("mood"),
    ).where(col(GeneralComment.round_id).in_(counted))
    return union_all(tied, general).subquery("published")


async def published_comments(
    session: AsyncSession, team_id: int, weeks: set[date], limit: int = SAMPLE
) -> Comments:
    """A uniform random sample of at most ``limit`` of the team's published comments from its
    published comment ``weeks``, with their total and mood (over all of them, not the sample)."""
    if not weeks:
        return Comments()
    published = _published(team_id, _counted_rounds(team_id, weeks))
    query = (
        select_columns(
            published.c.theme,
            published.c.words,
            func.count().over().label("total"),
            func.sum(published.c.mood).over().label("moods"),
            func.count(published.c.mood).over().label("scored"),
        )
        .order_by(func.random())
        .limit(limit)
    )
    rows = (await _run(session, query)).all()
    if not rows:
        return Comments()
    bank = load_bank()
    shown = [
        (GENERAL if theme is None else bank.theme_name(theme), words or "")
        for theme, words, *_ in rows
    ]
    random.SystemRandom().shuffle(shown)  # (already in random order; the OS's randomness too)
    _, _, total, moods, scored = rows[0]
    return Comments(shown, int(total), float(moods) / scored if scored else None)
