"""Which comments a report's sample shows, found by walking down the counts kept at the cut.

A bucket of the reported team (a week's comments on one theme, or that week's general comments)
holds ``count`` comments: the team's own (from its own rounds the week counted) and those of each
team directly below it as the week was cut, each of which holds its own and its children's, and
so on; ``surveys/comment_counts.py`` keeps every team's count.  So a rank in ``[0, count)``
names one comment: the team's own come first (in the order of their random ids), then each
child's share, in team order.  Walking down from the team a level at a time reads only the
counts of the children of the teams some rank is in, never the answers of a whole week; only a
team a rank lands on reads its own comments of that week and theme (a ward's dozen).  Every
bucket of a report walks at once: one statement per level (and one for the teams landed on) for
the statements' comments and one for the general ones, however many buckets were hit.

Uniform ranks give a uniform sample.  Should a kept count ever be wrong, a rank past a team's own
comments shows nothing rather than something else: whatever the counts say, a comment shown is
one of a round the week counted, in a team below the reported one as that week was cut.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Date, Integer, Select, and_, bindparam, tuple_
from sqlalchemy import select as select_columns
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import GeneralComment, PulseRound, Question, Response, RollupCell, RollupWeek

_WEEKS = bindparam("weeks", expanding=True, type_=Date)
_TEAMS = bindparam("teams", expanding=True, type_=Integer)
# the places asked exactly, (team, week) or (team, week, theme): the lists above let the indexes
# narrow the search, these keep a level from reading every pairing of them
_PAIRS: BindParameter[Any] = bindparam("pairs", expanding=True)
_TRIPLES: BindParameter[Any] = bindparam("triples", expanding=True)

# (week, theme or None for the general comments, team): a team's share of one bucket
Place = tuple[date, str | None, int]
# a place of the walk: its count in the bucket, and the ranks wanted within it
Wanted = dict[Place, tuple[int, list[int]]]


@cache
def _children_query(general: bool) -> Select[Any]:
    """(week, theme or NULL, parent, child, the child's count) for the children of the places
    asked, as each place's week was cut (a child with no cell on a theme holds none of it)."""
    rows = col(RollupWeek.parent_id).in_(_TEAMS), col(RollupWeek.week).in_(_WEEKS)
    if general:
        return select_columns(
            col(RollupWeek.week),
            col(RollupWeek.parent_id),
            col(RollupWeek.team_id),
            col(RollupWeek.general_comments),
        ).where(*rows, tuple_(col(RollupWeek.parent_id), col(RollupWeek.week)).in_(_PAIRS))
    cell = and_(
        col(RollupCell.team_id) == col(RollupWeek.team_id),
        col(RollupCell.week) == col(RollupWeek.week),
        tuple_(col(RollupWeek.parent_id), col(RollupWeek.week), col(RollupCell.theme)).in_(
            _TRIPLES
        ),
    )
    return (
        select_columns(
            col(RollupWeek.week),
            col(RollupCell.theme),
            col(RollupWeek.parent_id),
            col(RollupWeek.team_id),
            col(RollupCell.comments),
        )
        .join(RollupCell, cell)
        .where(*rows)
    )


@cache
def _own_query(general: bool) -> Select[Any]:
    """The own comments of the places asked (their teams' rounds each week counted): (week,
    theme or NULL, team, words), by their random ids."""
    own_rounds = col(PulseRound.team_id).in_(_TEAMS), col(PulseRound.counted_in).in_(_WEEKS)
    exactly = tuple_(col(PulseRound.team_id), col(PulseRound.counted_in))
    if general:
        return (
            select_columns(
                col(PulseRound.counted_in), col(PulseRound.team_id), col(GeneralComment.comment)
            )
            .join(PulseRound, col(PulseRound.id) == col(GeneralComment.round_id))
            .where(*own_rounds, exactly.in_(_PAIRS))
            .order_by(col(GeneralComment.id))
        )
    return (
        select_columns(
            col(PulseRound.counted_in),
            col(Question.theme),
            col(PulseRound.team_id),
            col(Response.comment),
        )
        .join(PulseRound, col(PulseRound.id) == col(Response.round_id))
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(
            *own_rounds,
            tuple_(*exactly.clauses, col(Question.theme)).in_(_TRIPLES),
            col(Response.comment).is_not(None),
        )
        .order_by(col(Response.id))
    )


async def _rows(
    session: AsyncSession, places: list[Place], query: Any, general: bool
) -> list[tuple[Place, Any]]:
    """``query`` (one of the above) for these places of one kind: each row as (place, rest)."""
    values: dict[str, Any] = {
        "weeks": sorted({week for week, _, _ in places}),
        "teams": sorted({team for _, _, team in places}),
    }
    if general:
        values["pairs"] = sorted({(team, week) for week, _, team in places})
    else:
        values["triples"] = sorted({(team, week, theme) for week, theme, team in places})
    asked = set(places)
    connection = await session.connection()
    found = []
    for row in (await connection.execute(query, values)).all():
        week, theme, team, *rest = (row[0], None, *row[1:]) if general else row
        if (week, theme, team) in asked:
            found.append(((week, theme, team), rest))
    return found


async def _children(
    session: AsyncSession, places: list[Place]
) -> dict[Place, list[tuple[int, int]]]:
    """Each place's children as its week was cut (the same week and theme, a team directly
    below): (child team, its count), in team order."""
    found: dict[Place, list[tuple[int, int]]] = defaultdict(list)
    for general in (False, True):
        kind = [place for place in places if (place[1] is None) == general]
        if kind:
            query = _children_query(general)
            for place, (child, count) in await _rows(session, kind, query, general):
                found[place].append((int(child), int(count or 0)))
    return {place: sorted(kids) for place, kids in found.items()}


def _step(
    level: Wanted, children: dict[Place, list[tuple[int, int]]], seen: set[Place]
) -> tuple[Wanted, dict[Place, list[int]]]:
    """One level down: the ranks that fall in each child, and those in a team's own comments."""
    below: Wanted = {}
    own: dict[Place, list[int]] = {}
    for place, (count, ranks) in level.items():
        week, theme, _ = place
        kids = [
            ((week, theme, child), n)
            for child, n in children.get(place, [])
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


async def _own(session: AsyncSession, own: dict[Place, list[int]]) -> list[tuple[Place, str]]:
    """The comments at the ranks wanted of each place's own comments."""
    words: dict[Place, list[str]] = defaultdict(list)
    for general in (False, True):
        kind = [place for place in own if (place[1] is None) == general]
        if kind:
            for place, (text,) in await _rows(session, kind, _own_query(general), general):
                words[place].append(text or "")
    return [
        (place, words[place][rank])
        for place, ranks in own.items()
        for rank in ranks
        if rank < len(words[place])
    ]


async def pick(
    session: AsyncSession, team_id: int, buckets: list[tuple[date, str | None, int, list[int]]]
) -> list[tuple[str | None, str]]:
    """(theme or None, words) at the ranks asked of each of the team's buckets (week, theme or
    None for the general comments, how many it holds, the ranks)."""
    level: Wanted = {(week, theme, team_id): (n, ranks) for week, theme, n, ranks in buckets}
    seen: set[Place] = set()  # (a cycle in the rows would end the walk)
    own: dict[Place, list[int]] = {}
    while level:
        seen |= level.keys()
        children = await _children(session, sorted(level, key=_order))
        level, found = _step(level, children, seen)
        own.update(found)
    return [(theme, words) for (_, theme, _), words in await _own(session, own)]


def _order(place: Place) -> tuple[date, str, int]:
    week, theme, team = place
    return week, theme or "", team
