"""Which comments a report's sample shows, found by walking down the counts kept at the cut.

A bucket of the reported team (a week's comments on one theme, or that week's general comments)
holds ``count`` comments: the team's own (from its own rounds the week counted) and those of each
team directly below it as the week was cut, each of which holds its own and its children's, and
so on; ``surveys/comment_counts.py`` keeps every team's count.  So a rank in ``[0, count)``
names one comment: the team's own come first (in the order of their random ids), then each
child's share, in team order.  Walking down from the team a level at a time reads only the
counts of the children of the teams some rank is in, never the answers of a whole week; only a
team a rank lands on reads its own comments of that week and theme (a ward's dozen).

Every bucket of a report walks together, level by level; the two databases differ only in how a
level's question is put.  PostgreSQL gets one statement per level for every place of the walk,
which also reads each place's own comments (so a ward's report walks in one statement), each
place a row of ``unnest`` over three arrays, so the statement's text is the same whatever the
number of places and asyncpg prepares it once per connection.  SQLite, which has no arrays and
planned lists and row values poorly (a directorate 94 ms at a million answers), gets small
statements through its indexes: per level, one for the weeks in which any place has children
(a ward has none, so its walk asks no more), then one per bucket of those weeks; and one per
team landed on, for its own comments of every week and theme at once (a ward's report reads
its comments in one statement, where it took one per bucket).

Uniform ranks give a uniform sample.  Should a kept count ever be wrong, a rank past a team's own
comments shows nothing rather than something else: whatever the counts say, a comment shown is
one of a round the week counted, in a team below the reported one as that week was cut.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Date,
    Integer,
    Select,
    String,
    TableValuedAlias,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    union_all,
)
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import on_postgresql
from storage.models import GeneralComment, PulseRound, Question, Response, RollupCell, RollupWeek

# (week, theme or None for the general comments, team): a team's share of one bucket
Place = tuple[date, str | None, int]
# a bucket of the reported team: (week, theme or None, how many it holds, the ranks wanted)
Bucket = tuple[date, str | None, int, list[int]]
# a place of the walk: its count in the bucket, and the ranks wanted within it
Wanted = dict[Place, tuple[int, list[int]]]
Children = dict[Place, list[tuple[int, int]]]  # each place's (child team, its count), team order
Words = dict[Place, list[str]]  # each place's own comments, in the order of their random ids

_WEEK = bindparam("week", type_=Date)
_THEME = bindparam("theme", type_=String)
_TEAM = bindparam("team_id", type_=Integer)
_TEAMS = bindparam("teams", expanding=True, type_=Integer)
_WEEKS = bindparam("weeks", expanding=True, type_=Date)


# SQLite: one bucket (week, theme) at a time


@cache
def _children_query(general: bool) -> Select[Any]:
    """(parent, child, the child's count in the bucket) for the children of ``teams`` as
    ``week`` was cut: a child with no cell on the theme holds none of it."""
    if general:
        return select_columns(
            col(RollupWeek.parent_id), col(RollupWeek.team_id), col(RollupWeek.general_comments)
        ).where(col(RollupWeek.week) == _WEEK, col(RollupWeek.parent_id).in_(_TEAMS))
    cell = and_(
        col(RollupCell.team_id) == col(RollupWeek.team_id),
        col(RollupCell.week) == col(RollupWeek.week),
        col(RollupCell.theme) == _THEME,
    )
    return (
        select_columns(
            col(RollupWeek.parent_id),
            col(RollupWeek.team_id),
            func.coalesce(col(RollupCell.comments), 0),
        )
        .outerjoin(RollupCell, cell)
        .where(col(RollupWeek.week) == _WEEK, col(RollupWeek.parent_id).in_(_TEAMS))
    )


@cache
def _weeks_with_children_query() -> Select[Any]:
    """The weeks in which some of ``teams`` had a team below them as the week was cut."""
    return (
        select_columns(col(RollupWeek.week))
        .where(col(RollupWeek.parent_id).in_(_TEAMS), col(RollupWeek.week).in_(_WEEKS))
        .distinct()
    )


@cache
def _own_of_team_query() -> CompoundSelect[Any]:
    """(week, theme or NULL, words) of one team's own comments in ``weeks`` (its rounds each
    week counted), on every theme and general, by their random ids."""
    own_rounds = and_(col(PulseRound.team_id) == _TEAM, col(PulseRound.counted_in).in_(_WEEKS))
    tied: Select[Any] = (
        select_columns(
            col(PulseRound.counted_in),
            col(Question.theme),
            col(Response.id).label("id"),
            col(Response.comment),
        )
        .join(Response, col(Response.round_id) == col(PulseRound.id))
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(own_rounds, col(Response.comment).is_not(None))
    )
    general: Select[Any] = (
        select_columns(
            col(PulseRound.counted_in),
            null(),
            col(GeneralComment.id).label("id"),
            col(GeneralComment.comment),
        )
        .join(GeneralComment, col(GeneralComment.round_id) == col(PulseRound.id))
        .where(own_rounds)
    )
    return union_all(tied, general).order_by(literal_column("id"))


async def _rows(session: AsyncSession, query: Any, values: dict[str, Any]) -> list[Any]:
    connection = await session.connection()
    return list((await connection.execute(query, values)).all())


async def _level_by_bucket(session: AsyncSession, places: list[Place]) -> tuple[Children, Words]:
    """Each place's children as its week was cut: one statement for the weeks in which any
    place has children (a ward has none: its walk ends there), then one per bucket of those
    weeks (own comments are read once landed on, ``_own_by_team``)."""
    buckets: dict[tuple[date, str | None], list[int]] = defaultdict(list)
    for week, theme, team in places:
        buckets[week, theme].append(team)
    asked = {
        "teams": sorted({team for *_, team in places}),
        "weeks": sorted({w for w, _ in buckets}),
    }
    parents = {week for (week,) in await _rows(session, _weeks_with_children_query(), asked)}
    found: Children = defaultdict(list)
    for (week, theme), teams in buckets.items():
        if week not in parents:
            continue
        values = {"week": week, "theme": theme, "teams": teams}
        for parent, child, count in await _rows(session, _children_query(theme is None), values):
            found[week, theme, parent].append((child, int(count or 0)))
    return found, {}


async def _own_by_team(session: AsyncSession, places: list[Place]) -> Words:
    """Each place's own comments: one statement per team (a ward's every bucket at once)."""
    by_team: dict[int, set[date]] = defaultdict(set)
    for week, _, team in places:
        by_team[team].add(week)
    words: Words = {place: [] for place in places}
    for team, weeks in by_team.items():
        values = {"team_id": team, "weeks": sorted(weeks)}
        for week, theme, _, text in await _rows(session, _own_of_team_query(), values):
            place = (week, theme, team)
            if place in words:
                words[place].append(text or "")
    return words


# PostgreSQL: every place of a level at once, as the rows of three arrays


@cache
def _asked() -> TableValuedAlias:
    """The places asked, ``asked(team, week, theme)``: one row per place, theme NULL for the
    general comments."""
    arrays = (
        bindparam("teams_asked", type_=ARRAY(Integer)),
        bindparam("weeks_asked", type_=ARRAY(Date)),
        bindparam("themes_asked", type_=ARRAY(String)),
    )
    return func.unnest(*arrays).table_valued("team", "week", "theme").render_derived("asked")


def _children_rows() -> Select[Any]:
    """(week, theme or NULL, parent, child, the child's count, NULL, NULL) for the children of
    every place asked, as its week was cut: the child's cell on the theme, or its general
    comments.  Only children that hold some (no rank can fall in one that holds none).

    The children are found in ``ix_rollup_week_parent_week`` alone (an index-only scan) and
    their general counts read through the primary key: asked for a week's row in full, the
    planner, which cannot see into ``unnest``, read each place's whole week (2,021 rows)
    through the week's index instead."""
    asked = _asked()
    below = aliased(RollupWeek, name="below")
    general = aliased(RollupWeek, name="general")
    cell = and_(
        col(RollupCell.team_id) == col(below.team_id),
        col(RollupCell.week) == col(below.week),
        col(RollupCell.theme) == asked.c.theme,
    )
    its_general = and_(
        col(general.team_id) == col(below.team_id),
        col(general.week) == col(below.week),
        asked.c.theme.is_(None),
    )
    count = func.coalesce(
        col(RollupCell.comments), col(general.general_comments), literal_column("0")
    )
    no_words = cast(null(), String).label("id"), cast(null(), String).label("words")
    return (
        select_columns(
            asked.c.week, asked.c.theme, asked.c.team, col(below.team_id), count, *no_words
        )
        .select_from(asked)
        .join(below, and_(col(below.parent_id) == asked.c.team, col(below.week) == asked.c.week))
        .outerjoin(RollupCell, cell)
        .outerjoin(general, its_general)
        .where(count > 0)
    )


def _own_rows() -> tuple[Select[Any], Select[Any]]:
    """(week, theme or NULL, team, NULL, NULL, id, words): the own comments of every place
    asked (its team's rounds the week counted), on a statement and general."""
    asked = _asked()
    own_rounds = and_(
        col(PulseRound.team_id) == asked.c.team,
        col(PulseRound.counted_in) == asked.c.week,
    )
    place = asked.c.week, asked.c.theme, asked.c.team, cast(null(), Integer), cast(null(), Integer)
    tied = (
        select_columns(*place, col(Response.id).label("id"), col(Response.comment))
        .select_from(asked)
        .join(PulseRound, own_rounds)
        .join(Response, col(Response.round_id) == col(PulseRound.id))
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(col(Question.theme) == asked.c.theme, col(Response.comment).is_not(None))
    )
    general = (
        select_columns(*place, col(GeneralComment.id).label("id"), col(GeneralComment.comment))
        .select_from(asked)
        .join(PulseRound, own_rounds)
        .join(GeneralComment, col(GeneralComment.round_id) == col(PulseRound.id))
        .where(asked.c.theme.is_(None))
    )
    return tied, general


@cache
def _level_at_once_query() -> CompoundSelect[Any]:
    """A level of the walk for every place asked, in one statement: each place's children with
    their counts (a child's row), and the place's own comments by their random ids (a row with
    no child).  Its own comments are read whether or not a rank falls in them (a ward's dozen;
    a team with no rounds of its own has none): that saves the walk a round trip at the end."""
    return union_all(_children_rows(), *_own_rows()).order_by(literal_column("id"))


def _arrays(places: list[Place]) -> dict[str, list[Any]]:
    return {
        "teams_asked": [team for _, _, team in places],
        "weeks_asked": [week for week, _, _ in places],
        "themes_asked": [theme for _, theme, _ in places],
    }


async def _level_at_once(session: AsyncSession, places: list[Place]) -> tuple[Children, Words]:
    """Each place's children as its week was cut, and its own comments: one statement."""
    children: Children = defaultdict(list)
    words: Words = {place: [] for place in places}
    rows = await _rows(session, _level_at_once_query(), _arrays(places))
    for week, theme, team, child, count, _, text in rows:
        if child is None:
            words[week, theme, team].append(text or "")
        else:
            children[week, theme, team].append((child, int(count or 0)))
    return children, words


async def _own_at_once(session: AsyncSession, places: list[Place]) -> Words:
    """Each place's own comments.  (The walk's levels have read them already for every place
    landed on; this answers the walk's last question the same way as SQLite's.)"""
    return (await _level_at_once(session, places))[1]


# The walk, the same on both


def _step(
    level: Wanted, children: Children, seen: set[Place]
) -> tuple[Wanted, dict[Place, list[int]]]:
    """One level down: the ranks that fall in each child, and those in a team's own comments."""
    below: Wanted = {}
    own: dict[Place, list[int]] = {}
    for place, (count, ranks) in level.items():
        week, theme, _ = place
        kids = [
            ((week, theme, child), n)
            for child, n in sorted(children.get(place, []))
            if (week, theme, child) not in seen
        ]
        mine = count - sum(n for _, n in kids)
        for rank in ranks:
            if rank < mine:
                own.setdefault(place, []).append(rank)
                continue
            rank -= mine
            for child_place, n in kids:
                if rank < n:
                    below.setdefault(child_place, (n, []))[1].append(rank)
                    break
                rank -= n
    return below, own


def at_once(session: AsyncSession) -> bool:
    """Whether a level of the walk is one statement (PostgreSQL) or one per bucket (SQLite)."""
    return on_postgresql(session)


async def pick(
    session: AsyncSession, team_id: int, buckets: list[Bucket], *, batched: bool | None = None
) -> list[tuple[str | None, str]]:
    """(theme or None, words) at the ranks asked of each of the team's buckets.  ``batched``
    (PostgreSQL only) chooses how a level is asked; by default, as suits the database."""
    if batched is None:
        batched = at_once(session)
    ask_level: Callable[[AsyncSession, list[Place]], Awaitable[tuple[Children, Words]]]
    ask_level, ask_own = (
        (_level_at_once, _own_at_once) if batched else (_level_by_bucket, _own_by_team)
    )
    level: Wanted = {(week, theme, team_id): (n, ranks) for week, theme, n, ranks in buckets}
    seen: set[Place] = set()  # (a cycle in the rows would end the walk)
    own: dict[Place, list[int]] = {}
    words: Words = {}
    while level:
        seen |= level.keys()
        children, known = await ask_level(session, sorted(level, key=_order))
        words.update(known)
        level, found = _step(level, children, seen)
        own.update(found)
    unread = sorted((place for place in own if place not in words), key=_order)
    if unread:
        words.update(await ask_own(session, unread))
    return [
        (place[1], words[place][rank])
        for place, ranks in own.items()
        for rank in ranks
        if rank < len(words[place])
    ]


def _order(place: Place) -> tuple[date, str, int]:
    week, theme, team = place
    return week, theme or "", team
