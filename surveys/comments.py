"""A report's comments: a bounded random sample of the published ones, drawn in SQL, with how
many there are in all and their mood.

Which comments are published is decided exactly as before (docs/anonymity.md): only from the
reported team's published comment weeks, only from rounds that week's cut counted, only from teams
below it as that week was cut, and a comment on a statement only where its (week, theme) cell
publishes comments.  Every one of those conditions is in the SQL ``WHERE``/``JOIN``, so the
count, the mood and the sample all range over the published comments and nothing else: the sample
can only hold comments that showing them all would have shown.

How many there are and their mood are read from the rollups, counted at the week's cut by those
same rules (``surveys/comment_counts.py``): one row per (week, theme) cell and per week, not
every answer of the scope's comment weeks.  The sample is stratified and still exactly uniform:
``min(limit, total)`` distinct ranks are drawn in ``[0, total)``, each rank falls in one bucket
(a week's theme, or a week's general comments) by the stored counts, and each bucket that got
``m`` ranks gives ``m`` of its comments picked by the database (``ORDER BY random() LIMIT m``).
A uniform set of ranks shared out by bucket sizes, then a uniform pick within each bucket, is a
uniform pick of the whole.  Each bucket's statement keeps every rule above in its ``WHERE``, for
its one week and theme, so the sample can only hold comments that showing them all would have
shown, even were a stored count wrong.  At most ``limit`` buckets are read, one statement each.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    CTE,
    BindParameter,
    CompoundSelect,
    Date,
    Integer,
    Result,
    Select,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    null,
    true,
    union_all,
)
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


# the weeks: a set, or a bound parameter (expanding) when a statement is built once and reused
Weeks = set[date] | BindParameter[Any]


async def _run(
    session: AsyncSession, query: Any, parameters: dict[str, Any] | None = None
) -> Result[Any]:
    connection = await session.connection()
    return await connection.execute(query, parameters)


def _tree_as_cut(team_id: int | BindParameter[Any], weeks: Weeks) -> CTE:
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


def _counted_rounds(
    team_id: int | BindParameter[Any], weeks: Weeks, *, lateral: bool = False
) -> Select[Any]:
    """The rounds that a comment week's cut counted, in a team of that week's tree as cut.
    Each (week, team) finds its rounds through ``ix_pulse_round_team_counted``.  A subquery, so
    both databases reach the answers through their round index.  The weeks are also named as a
    list: PostgreSQL cannot tell a walk's size, and without them it hashed every round there is.

    ``lateral`` (PostgreSQL): each (week, team) of the walk looks its rounds up by itself.
    PostgreSQL guesses a walk of thousands of rows however small it is, and so hashed every round
    counted in the weeks (24,000 for a ward's 12) where the ward has 12; ``OFFSET 0`` keeps the
    planner from folding the lookup back into that join.  SQLite has no ``LATERAL`` and already
    walks the index per row."""
    tree = _tree_as_cut(team_id, weeks)
    if lateral:
        rounds = (
            select_columns(col(PulseRound.id).label("id"))
            .where(
                col(PulseRound.team_id) == tree.c.team_id,
                col(PulseRound.counted_in) == tree.c.week,
            )
            .offset(0)
            .lateral("rounds")
        )
        return select_columns(rounds.c.id).select_from(tree).join(rounds, true())
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


@dataclass(frozen=True)
class _Bucket:
    """A week's comments on one theme (None: its general comments), as counted at the cut."""

    week: date
    theme: str | None
    count: int


# A report's statements are built once and run with their values: building and keying a
# statement with a recursive walk costs a few milliseconds of Python, paid for each bucket
# otherwise (more than running it, for a ward).
_TEAM = bindparam("team_id", type_=Integer)
_WEEKS = bindparam("weeks", expanding=True, type_=Date)


@cache
def _buckets_query() -> CompoundSelect[Any]:
    """The team's comment counts in its published comment cells and weeks: (week, theme or NULL,
    comments, with a mood, sum of moods)."""
    cells: Select[Any] = select_columns(
        col(RollupCell.week),
        col(RollupCell.theme),
        col(RollupCell.comments),
        col(RollupCell.moods),
        col(RollupCell.mood_total),
    ).where(
        col(RollupCell.team_id) == _TEAM,
        col(RollupCell.week).in_(_WEEKS),
        col(RollupCell.comments_published).is_(True),
    )
    general: Select[Any] = select_columns(
        col(RollupWeek.week),
        cast(null(), String),
        col(RollupWeek.general_comments),
        col(RollupWeek.general_moods),
        col(RollupWeek.general_mood_total),
    ).where(
        col(RollupWeek.team_id) == _TEAM,
        col(RollupWeek.week).in_(_WEEKS),
        col(RollupWeek.comments_published).is_(True),
    )
    return union_all(cells, general)


@cache
def _tied_sample(lateral: bool) -> Select[Any]:
    """``size`` random comments on ``theme``, of rounds ``week`` counted in the team's tree as
    cut (``weeks``: that week alone), while the team's cell for that week and theme publishes
    comments."""
    cell_published = exists().where(
        col(RollupCell.team_id) == _TEAM,
        col(RollupCell.week) == bindparam("week", type_=Date),
        col(RollupCell.theme) == bindparam("theme", type_=String),
        col(RollupCell.comments_published).is_(True),
    )
    return (
        select_columns(col(Response.comment))
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(
            col(Response.round_id).in_(_counted_rounds(_TEAM, _WEEKS, lateral=lateral)),
            col(Question.theme) == bindparam("theme", type_=String),
            col(Response.comment).is_not(None),
            cell_published,
        )
        .order_by(func.random())
        .limit(bindparam("size", type_=Integer))
    )


@cache
def _general_sample(lateral: bool) -> Select[Any]:
    """``size`` random general comments of rounds ``week`` counted in the team's tree as cut,
    while the team's comments of that week are published."""
    week_published = exists().where(
        col(RollupWeek.team_id) == _TEAM,
        col(RollupWeek.week) == bindparam("week", type_=Date),
        col(RollupWeek.comments_published).is_(True),
    )
    return (
        select_columns(col(GeneralComment.comment))
        .where(
            col(GeneralComment.round_id).in_(_counted_rounds(_TEAM, _WEEKS, lateral=lateral)),
            week_published,
        )
        .order_by(func.random())
        .limit(bindparam("size", type_=Integer))
    )


def allocate(counts: list[int], draws: int) -> list[int]:
    """How many of ``draws`` distinct uniform ranks in ``[0, sum(counts))`` fall in each bucket
    (buckets laid end to end in the order given)."""
    total = sum(counts)
    bounds = list(accumulate(counts))
    taken = [0] * len(counts)
    for rank in random.SystemRandom().sample(range(total), min(draws, total)):
        taken[bisect_right(bounds, rank)] += 1
    return taken


async def published_comments(
    session: AsyncSession, team_id: int, weeks: set[date], limit: int = SAMPLE
) -> Comments:
    """A uniform random sample of at most ``limit`` of the team's published comments from its
    published comment ``weeks``, with their total and mood (over all of them, not the sample)."""
    if not weeks:
        return Comments()
    found = await _run(session, _buckets_query(), {"team_id": team_id, "weeks": sorted(weeks)})
    rows = found.all()
    buckets = sorted(
        (_Bucket(week, theme, int(count)) for week, theme, count, _, _ in rows if count > 0),
        key=lambda b: (b.week, b.theme or ""),
    )
    total = sum(bucket.count for bucket in buckets)
    if not total:
        return Comments()
    scored = sum(int(moods) for _, _, _, moods, _ in rows)
    moods = sum(float(mood_total or 0.0) for *_, mood_total in rows)
    bank = load_bank()
    lateral = session.bind.dialect.name == "postgresql"
    shown: list[tuple[str, str]] = []
    for bucket, size in zip(buckets, allocate([b.count for b in buckets], limit), strict=True):
        if not size:
            continue
        values = {"team_id": team_id, "weeks": [bucket.week], "week": bucket.week, "size": size}
        if bucket.theme is None:
            query, label = _general_sample(lateral), GENERAL
        else:
            query, label = _tied_sample(lateral), bank.theme_name(bucket.theme)
            values["theme"] = bucket.theme
        picked = (await _run(session, query, values)).all()
        shown.extend((label, words or "") for (words,) in picked)
    random.SystemRandom().shuffle(shown)  # buckets were read in order: mix them
    return Comments(shown, total, moods / scored if scored else None)
