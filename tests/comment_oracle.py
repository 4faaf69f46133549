"""The tests' oracle for a report's comments: the statement reports used before the counts were
kept in the rollups, which visits every answer of the comment weeks.  The rules are the ones in
docs/anonymity.md, walked live: rounds a week's cut counted, in the teams below the reported one
as that week was cut, a theme's comments only where the team's cell for it publishes comments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import CTE, Select, String, and_, cast, func, null, union_all
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import GeneralComment, PulseRound, Question, Response, RollupCell, RollupWeek


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


def _published(team_id: int, weeks: set[date]) -> Any:
    """Every comment a full list would show: (theme or NULL, words, mood)."""
    counted = _counted_rounds(team_id, weeks)
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


@dataclass(frozen=True)
class Shown:
    """What a full list of a report's comments held: the words, their count, their mood."""

    words: frozenset[str]
    total: int
    mood: float | None


async def full_list(session: AsyncSession, team_id: int, weeks: set[date]) -> Shown:
    """The comments a report of ``team_id`` over its comment ``weeks`` would have listed."""
    if not weeks:
        return Shown(frozenset(), 0, None)
    published = _published(team_id, weeks)
    query = select_columns(published.c.words, published.c.mood)
    rows = (await (await session.connection()).execute(query)).all()
    moods = [float(mood) for _, mood in rows if mood is not None]
    mean = sum(moods) / len(moods) if moods else None
    return Shown(frozenset(str(words) for words, _ in rows), len(rows), mean)


async def recount(
    session: AsyncSession, team_id: int, week: date
) -> dict[str | None, tuple[int, int, float]]:
    """A (team, week)'s comments by theme (None: general), walked live whether published or not:
    (comments, with a mood, sum of moods)."""
    counted = _counted_rounds(team_id, {week})
    tied = (
        select_columns(
            col(Question.theme),
            func.count(),
            func.count(col(Response.sentiment)),
            func.sum(col(Response.sentiment)),
        )
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(col(Response.round_id).in_(counted), col(Response.comment).is_not(None))
        .group_by(col(Question.theme))
    )
    general = select_columns(
        cast(null(), String),
        func.count(),
        func.count(col(GeneralComment.sentiment)),
        func.sum(col(GeneralComment.sentiment)),
    ).where(col(GeneralComment.round_id).in_(counted))
    connection = await session.connection()
    found: dict[str | None, tuple[int, int, float]] = {}
    for query in (tied, general):
        for theme, comments, moods, total in (await connection.execute(query)).all():
            if comments:
                found[theme] = (int(comments), int(moods), float(total or 0.0))
    return found
