"""Which comments a report's sample shows, found by walking down the counts kept at the cut.

A bucket of the reported team (a week's comments on one theme, or that week's general comments)
holds ``count`` comments: the team's own (from its own rounds the week counted) and those of each
team directly below it as the week was cut, each of which holds its own and its children's, and
so on; ``surveys/comment_counts.py`` keeps every team's count.  So a rank in ``[0, count)``
names one comment: the team's own come first (in the order of their random ids), then each
child's share, in team order.  Walking down from the team a level at a time reads only the
counts of the children of the teams some rank is in, never the answers of a whole week; only a
team a rank lands on reads its own comments of that week and theme (a ward's dozen).

Every bucket of a report walks together, level by level, one statement per level on both
databases: it reads each place's children with their counts and each place's own comments, so
a ward's report walks in one statement, a directorate's in two and a trust's in three.  The
places of a level are a table the statement joins: on PostgreSQL the rows of ``unnest`` over
three arrays, on SQLite the rows of ``json_each`` over one JSON array of ``[team, week, theme]``
(SQLite has no arrays).  Either way the statement's text is the same whatever the number of
places, so it is built and prepared once, and each place finds its children and its rounds
through their indexes.  (SQLite planned lists of teams, weeks and themes and row values poorly,
a directorate 94 ms at a million answers; asked a bucket at a time, a trust took 35 statements.)

Uniform ranks give a uniform sample.  Should a kept count ever be wrong, a rank past a team's own
comments shows nothing rather than something else: whatever the counts say, a comment shown is
one of a round the week counted, in a team below the reported one as that week was cut.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import (
    CTE,
    CompoundSelect,
    Date,
    Integer,
    Select,
    String,
    TableValuedAlias,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    true,
    type_coerce,
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
Asked = TableValuedAlias | CTE  # the places asked: columns team, week, theme


@cache
def _asked(postgresql: bool) -> Asked:
    """The places asked, ``asked(team, week, theme)``: one row per place, theme NULL for the
    general comments.  PostgreSQL: ``unnest`` of three arrays.  SQLite: ``json_each`` of one
    array of ``[team, "YYYY-MM-DD", theme]`` (the text SQLite's dates are stored as), a CTE
    because the statement reads it three times.  (SQLite's JSON functions are built in since
    3.38; the image's Debian bookworm has 3.40.)"""
    if postgresql:
        arrays = (
            bindparam("teams_asked", type_=ARRAY(Integer)),
            bindparam("weeks_asked", type_=ARRAY(Date)),
            bindparam("themes_asked", type_=ARRAY(String)),
        )
        return func.unnest(*arrays).table_valued("team", "week", "theme").render_derived("asked")
    value = (
        func.json_each(bindparam("places_asked", type_=String))
        .table_valued("value", name="places")
        .c.value
    )
    return select_columns(
        type_coerce(func.json_extract(value, "$[0]"), Integer).label("team"),
        type_coerce(func.json_extract(value, "$[1]"), Date).label("week"),
        type_coerce(func.json_extract(value, "$[2]"), String).label("theme"),
    ).cte("asked")


def _children_rows(asked: Asked, postgresql: bool) -> Select[Any]:
    """(week, theme or NULL, parent, child, the child's count, NULL, NULL) for the children of
    every place asked, as its week was cut: the child's cell on the theme, or its general
    comments.  Only children that hold some (no rank can fall in one that holds none).

    The children are found in ``ix_rollup_week_parent_week``; each child's count is then read
    as each database reads it best (``_counts_postgresql``, ``_counts_sqlite``)."""
    below = aliased(RollupWeek, name="below")
    counts = _counts_postgresql if postgresql else _counts_sqlite
    query, count = counts(asked, below)
    no_words = cast(null(), String).label("id"), cast(null(), String).label("words")
    return query.with_only_columns(
        asked.c.week, asked.c.theme, asked.c.team, col(below.team_id), count, *no_words
    ).where(count > 0)


def _below(asked: Asked, below: Any) -> Select[Any]:
    """The places and their children (``below``) as each place's week was cut."""
    found = and_(col(below.parent_id) == asked.c.team, col(below.week) == asked.c.week)
    return select_columns(col(below.team_id)).select_from(asked).join(below, found)


def _counts_sqlite(asked: Asked, below: Any) -> tuple[Select[Any], Any]:
    """SQLite reads each child's row once the index has found it, so its general count comes
    from that row; its cell on the theme, through the cell's primary key.  (Looking the same
    row up again through the week's primary key took most of a trust's second level: 8 to 10
    ms for its directorates' 1,000 children, 1.4 to 1.7 ms without.)"""
    cell = and_(
        col(RollupCell.team_id) == col(below.team_id),
        col(RollupCell.week) == col(below.week),
        col(RollupCell.theme) == asked.c.theme,
    )
    general = case((asked.c.theme.is_(None), col(below.general_comments)))
    count = func.coalesce(col(RollupCell.comments), general, literal_column("0"))
    return _below(asked, below).outerjoin(RollupCell, cell), count


def _counts_postgresql(asked: Asked, below: Any) -> tuple[Select[Any], Any]:
    """PostgreSQL finds the children in the index alone (an index-only scan: asked for a week's
    row in full, the planner, which cannot see into ``unnest``, read each place's whole week,
    2,021 rows, through the week's index instead), then each child's count in a lateral
    subquery: its cell on the theme (all three columns of the cell's key in the index's
    condition) or, for a place of general comments, its week's row.  Each branch's test of the
    place's theme is a one-time filter, so only the branch that applies is read.  (Two outer
    joins read both for every child, and the cell by team and week only: 15 to 17 ms for a
    trust's 1,000 children at a million answers, 6 to 9 ms this way.)"""
    general = aliased(RollupWeek, name="general")
    of_cell: Select[Any] = select_columns(col(RollupCell.comments).label("count")).where(
        col(RollupCell.team_id) == col(below.team_id),
        col(RollupCell.week) == col(below.week),
        col(RollupCell.theme) == asked.c.theme,
        asked.c.theme.is_not(None),
    )
    of_week: Select[Any] = select_columns(col(general.general_comments)).where(
        col(general.team_id) == col(below.team_id),
        col(general.week) == col(below.week),
        asked.c.theme.is_(None),
    )
    count = union_all(of_cell, of_week).subquery().lateral("counted")
    return _below(asked, below).join(count, true()), count.c.count


def _own_rows(asked: Asked) -> tuple[Select[Any], Select[Any]]:
    """(week, theme or NULL, team, NULL, NULL, id, words): the own comments of every place
    asked (its team's rounds the week counted), on a statement and general.

    A statement's comments are found by round and question in ``ix_response_round_question``
    (the theme's few questions named first), so only those answers are read.  Found by round
    alone, then their question's theme checked, every answer of the round was read, each on a
    page of its own (random ids): ten wards landed on at a million answers took 19 ms cold,
    4 ms this way (SQLite)."""
    own_rounds = and_(
        col(PulseRound.team_id) == asked.c.team,
        col(PulseRound.counted_in) == asked.c.week,
    )
    place = asked.c.week, asked.c.theme, asked.c.team, cast(null(), Integer), cast(null(), Integer)
    of_theme = select_columns(col(Question.id)).where(col(Question.theme) == asked.c.theme)
    tied = (
        select_columns(*place, col(Response.id).label("id"), col(Response.comment))
        .select_from(asked)
        .join(PulseRound, own_rounds)
        .join(Response, col(Response.round_id) == col(PulseRound.id))
        .where(col(Response.question_id).in_(of_theme), col(Response.comment).is_not(None))
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
def level_query(postgresql: bool) -> CompoundSelect[Any]:
    """A level of the walk for every place asked, in one statement: each place's children with
    their counts (a child's row), and the place's own comments by their random ids (a row with
    no child).  Its own comments are read whether or not a rank falls in them (a ward's dozen;
    a team with no rounds of its own has none): that saves the walk a round trip at the end."""
    asked = _asked(postgresql)
    return union_all(_children_rows(asked, postgresql), *_own_rows(asked)).order_by(
        literal_column("id")
    )


def level_values(postgresql: bool, places: list[Place]) -> dict[str, Any]:
    """``level_query``'s values: the places as three arrays, or as one JSON array."""
    if postgresql:
        return {
            "teams_asked": [team for _, _, team in places],
            "weeks_asked": [week for week, _, _ in places],
            "themes_asked": [theme for _, theme, _ in places],
        }
    rows = [[team, week.isoformat(), theme] for week, theme, team in places]
    return {"places_asked": json.dumps(rows)}


async def _level(session: AsyncSession, places: list[Place]) -> tuple[Children, Words]:
    """Each place's children as its week was cut, and its own comments: one statement."""
    postgresql = on_postgresql(session)
    children: Children = defaultdict(list)
    words: Words = {place: [] for place in places}
    connection = await session.connection()
    found = await connection.execute(level_query(postgresql), level_values(postgresql, places))
    for week, theme, team, child, count, _, text in found.all():
        if child is None:
            words[week, theme, team].append(text or "")
        else:
            children[week, theme, team].append((child, int(count or 0)))
    return children, words


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


async def pick(
    session: AsyncSession, team_id: int, buckets: list[Bucket]
) -> list[tuple[str | None, str]]:
    """(theme or None, words) at the ranks asked of each of the team's buckets."""
    level: Wanted = {(week, theme, team_id): (n, ranks) for week, theme, n, ranks in buckets}
    seen: set[Place] = set()  # (a cycle in the rows would end the walk)
    own: dict[Place, list[int]] = {}
    words: Words = {}
    while level:
        seen |= level.keys()
        children, known = await _level(session, sorted(level, key=_order))
        words.update(known)
        level, found = _step(level, children, seen)
        own.update(found)
    return [
        (place[1], words[place][rank])
        for place, ranks in own.items()
        for rank in ranks
        if rank < len(words[place])
    ]


def _order(place: Place) -> tuple[date, str, int]:
    week, theme, team = place
    return week, theme or "", team
