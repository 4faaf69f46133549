"""Which comments a report's sample shows, found by walking down the counts kept at the cut.

A bucket of the reported team (a week's comments on one theme, or that week's general comments)
holds ``count`` comments: the team's own (from its own rounds the week counted) and those of each
team directly below it as the week was cut, each of which holds its own and its children's, and
so on; ``surveys/comment_counts.py`` keeps every team's count.  So a rank in ``[0, count)``
names one comment: the team's own come first (in the order of their random ids), then each
child's share, in team order.  Walking down from the team a level at a time reads only the
counts of the children of the teams some rank is in, never the answers of a whole week; only a
team a rank lands on reads its own comments of that week and theme (a ward's dozen).

Uniform ranks give a uniform sample.  Should a kept count ever be wrong, a rank past a team's own
comments shows nothing rather than something else: whatever the counts say, a comment shown is
one of a round the week counted, in a team below the reported one as that week was cut.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Date, Integer, Select, String, and_, bindparam, func
from sqlalchemy import select as select_columns
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import GeneralComment, PulseRound, Question, Response, RollupCell, RollupWeek

_WEEK = bindparam("week", type_=Date)
_THEME = bindparam("theme", type_=String)
_TEAM = bindparam("team_id", type_=Integer)
_TEAMS = bindparam("teams", expanding=True, type_=Integer)

# a team of the walk: its count in the bucket, and the ranks wanted within it
Wanted = dict[int, tuple[int, list[int]]]


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
def _own_query(general: bool) -> Select[Any]:
    """A team's own comments in the bucket (its rounds ``week`` counted), by their random ids."""
    own_rounds = and_(col(PulseRound.team_id) == _TEAM, col(PulseRound.counted_in) == _WEEK)
    if general:
        return (
            select_columns(col(GeneralComment.comment))
            .join(PulseRound, col(PulseRound.id) == col(GeneralComment.round_id))
            .where(own_rounds)
            .order_by(col(GeneralComment.id))
        )
    return (
        select_columns(col(Response.comment))
        .join(PulseRound, col(PulseRound.id) == col(Response.round_id))
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(own_rounds, col(Question.theme) == _THEME, col(Response.comment).is_not(None))
        .order_by(col(Response.id))
    )


async def _rows(session: AsyncSession, query: Select[Any], values: dict[str, Any]) -> list[Any]:
    connection = await session.connection()
    return list((await connection.execute(query, values)).all())


async def _children(
    session: AsyncSession, week: date, theme: str | None, teams: list[int]
) -> dict[int, list[tuple[int, int]]]:
    """Each team's children as the week was cut, with their counts, in team order."""
    values = {"week": week, "theme": theme, "teams": teams}
    found: dict[int, list[tuple[int, int]]] = {}
    for parent, child, count in await _rows(session, _children_query(theme is None), values):
        found.setdefault(parent, []).append((child, int(count or 0)))
    return {parent: sorted(children) for parent, children in found.items()}


def _step(
    level: Wanted, children: dict[int, list[tuple[int, int]]], seen: set[int]
) -> tuple[Wanted, dict[int, list[int]]]:
    """One level down: the ranks that fall in each child, and those in a team's own comments."""
    below: Wanted = {}
    own: dict[int, list[int]] = {}
    for team, (count, ranks) in level.items():
        kids = [(child, n) for child, n in children.get(team, []) if child not in seen]
        mine = count - sum(n for _, n in kids)
        for rank in ranks:
            if rank < mine:
                own.setdefault(team, []).append(rank)
                continue
            rank -= mine
            for child, n in kids:
                if rank < n:
                    below.setdefault(child, (n, []))[1].append(rank)
                    break
                rank -= n
    return below, own


async def pick(
    session: AsyncSession, team_id: int, week: date, theme: str | None, count: int, ranks: list[int]
) -> list[str]:
    """The comments at ``ranks`` of the team's bucket (``theme`` None: general) of ``week``,
    which holds ``count``."""
    level: Wanted = {team_id: (count, ranks)}
    seen: set[int] = set()  # (a cycle in the rows would end the walk)
    own: dict[int, list[int]] = {}
    while level:
        seen |= level.keys()
        children = await _children(session, week, theme, sorted(level))
        level, found = _step(level, children, seen)
        own.update(found)
    shown: list[str] = []
    for team, wanted in own.items():
        values = {"team_id": team, "week": week, "theme": theme}
        words = [w for (w,) in await _rows(session, _own_query(theme is None), values)]
        shown.extend(words[rank] or "" for rank in wanted if rank < len(words))
    return shown
