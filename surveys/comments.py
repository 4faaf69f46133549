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
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Result, Select, String, and_, cast, func, null, or_, union_all
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    GeneralComment,
    PulseRound,
    Question,
    Response,
    RollupCell,
    RollupWeek,
    Team,
)
from surveys import directory
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


async def _subtrees_as_cut(
    session: AsyncSession, team_id: int, weeks: set[date]
) -> dict[date, set[int]]:
    """Week -> the team and every team below it as that week was cut (``rollup_week.parent_id``):
    a team moved in since counted elsewhere then, and its comments are not part of this team's
    published figures for that week."""
    organisation = select(col(Team.organisation_id)).where(col(Team.id) == team_id)
    query = select_columns(
        col(RollupWeek.week), col(RollupWeek.team_id), col(RollupWeek.parent_id)
    ).where(
        col(RollupWeek.week).in_(weeks),
        col(RollupWeek.team_id).in_(
            select(col(Team.id)).where(
                col(Team.organisation_id).in_(organisation.scalar_subquery())
            )
        ),
    )
    children: dict[date, dict[int, list[int]]] = {week: defaultdict(list) for week in weeks}
    for week, team, parent in (await _run(session, query)).all():
        if parent is not None:
            children[week][parent].append(team)
    subtrees: dict[date, set[int]] = {}
    for week, below in children.items():
        found, stack = set(), [team_id]
        while stack:
            current = stack.pop()
            found.add(current)
            stack.extend(below.get(current, []))
        subtrees[week] = found
    return subtrees


def _moved(team_id: int, weeks: set[date]) -> Select[Any]:
    """Any team of the organisation whose parent as one of ``weeks`` was cut is not its parent
    today (a re-import moved it since): one such week, or None.  Read in the database, so a
    report does not carry the hierarchy of every week into Python.  An aggregate, not ``LIMIT
    1``, which led PostgreSQL to walk every team's rows of all 52 weeks by key (120 ms, not 11).
    """
    organisation = select(col(Team.organisation_id)).where(col(Team.id) == team_id)
    return (
        select_columns(func.min(col(RollupWeek.week)))
        .join(Team, col(Team.id) == col(RollupWeek.team_id))
        .where(
            col(RollupWeek.week).in_(weeks),
            col(Team.organisation_id) == organisation.scalar_subquery(),
            col(RollupWeek.parent_id).is_distinct_from(col(Team.parent_id)),
        )
    )


def _rounds_below_today(teams: list[int], weeks: set[date]) -> Select[Any]:
    """The rounds ``weeks``' cuts counted in ``teams`` (the team and those below it today), each
    in a team the week's cut had a row for.  When no team has moved since those weeks were cut,
    these are exactly ``_counted_rounds(_subtrees_as_cut(...))``: each week's tree as cut is
    today's, less the teams with nobody invited that week (which have no row, and whose teams
    below have nobody invited either).  The teams are a list, not a subquery, so that SQLite
    (which runs without ``ANALYZE``) reaches a ward's few rounds through the team's index and a
    trust's through the weeks'."""
    return (
        select(col(PulseRound.id))
        .correlate(None)  # (its own rounds, not the enclosing answer's)
        .join(
            RollupWeek,
            and_(
                col(RollupWeek.team_id) == col(PulseRound.team_id),
                col(RollupWeek.week) == col(PulseRound.counted_in),
            ),
        )
        .where(col(PulseRound.counted_in).in_(weeks), col(PulseRound.team_id).in_(teams))
    )


def _counted_rounds(subtrees: dict[date, set[int]]) -> Select[Any]:
    """The rounds that a comment week's cut counted, in a team below the reported one as that
    week was cut.  Weeks cut with the same subtree share one condition (usually all of them).
    A subquery, so both databases reach the answers through their round index."""
    weeks_by_subtree: dict[frozenset[int], set[date]] = defaultdict(set)
    for week, teams in subtrees.items():
        weeks_by_subtree[frozenset(teams)].add(week)
    return (
        select(col(PulseRound.id))
        .correlate(None)  # (its own rounds, not the enclosing answer's)
        .where(
            or_(
                *(
                    and_(col(PulseRound.counted_in).in_(weeks), col(PulseRound.team_id).in_(teams))
                    for teams, weeks in weeks_by_subtree.items()
                )
            )
        )
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
    if (await _run(session, _moved(team_id, weeks))).scalar() is None:
        counted = _rounds_below_today(await directory.subtree(session, team_id), weeks)
    else:  # a re-import moved a team since: follow each week's hierarchy as cut
        counted = _counted_rounds(await _subtrees_as_cut(session, team_id, weeks))
    published = _published(team_id, counted)
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
