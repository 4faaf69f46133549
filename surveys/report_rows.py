"""The rollup rows one team's report reads, in one statement: its (week, theme) cells and its
weeks since a day, as plain columns.

A report used three statements for these (its published cells, its weeks, then the comment
counts of its comment weeks), each a round trip: on PostgreSQL those, not the reading, were
most of a ward's time.  Which of these rows are shown is decided by their readers
(``surveys/trends.py`` for the figures, ``surveys/comments.py`` for the comments), from the
flags the cut stored; this only reads a team's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    CompoundSelect,
    Date,
    Float,
    Integer,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    union_all,
)
from sqlalchemy import select as select_columns
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import RollupCell, RollupWeek


class Cell(NamedTuple):
    """A (week, theme) cell of the team: its figures, whether they are published, and its
    comments as counted at the cut (how many, how many with a mood, their sum) and whether
    they may be shown."""

    week: date
    theme: str
    answers: int
    total: float
    squares: float
    favourable: int
    unfavourable: int
    respondents: int
    published: bool
    comments_published: bool
    comments: int
    moods: int
    mood_total: float


class Week(NamedTuple):
    """A week of the team (``rollup_week``): participation, whether it and its comments may be
    shown, and its general comments as counted at the cut."""

    week: date
    invited: int
    respondents: int
    published: bool
    comments_published: bool
    comments: int
    moods: int
    mood_total: float


@dataclass(frozen=True)
class TeamRows:
    cells: list[Cell]
    weeks: list[Week]  # in week order


_TEAM = bindparam("team_id", type_=Integer)
_SINCE = bindparam("since", type_=Date)
_WEEK_COLUMNS = {  # Week's fields, as rollup_week names them
    "comments": "general_comments",
    "moods": "general_moods",
    "mood_total": "general_mood_total",
}
# the cells' columns that a week's row leaves empty, with their types (a NULL in a UNION needs one)
_CELL_ONLY = {
    "theme": String,
    "answers": Integer,
    "total": Float,
    "squares": Float,
    "favourable": Integer,
    "unfavourable": Integer,
}


@cache
def _rows_query() -> CompoundSelect[Any]:
    """(is a week, then Cell's columns, then invited): the team's cells and weeks since
    ``since``; a week's row has no theme and no figures of a cell."""
    cells = select_columns(
        literal_column("0").label("is_week"),
        *(getattr(RollupCell, name) for name in Cell._fields),
        cast(null(), Integer).label("invited"),
    ).where(col(RollupCell.team_id) == _TEAM, col(RollupCell.week) >= _SINCE)

    def week_column(name: str) -> Any:
        if name in _CELL_ONLY:
            return cast(null(), _CELL_ONLY[name]).label(name)
        return getattr(RollupWeek, _WEEK_COLUMNS.get(name, name))

    weeks = select_columns(
        literal_column("1"),
        *(week_column(name) for name in Cell._fields),
        col(RollupWeek.invited),
    ).where(col(RollupWeek.team_id) == _TEAM, col(RollupWeek.week) >= _SINCE)
    return union_all(cells, weeks)


def _week(row: Any) -> Week:
    return Week(
        row.week,
        row.invited,
        row.respondents,
        bool(row.published),
        bool(row.comments_published),
        row.comments,
        row.moods,
        row.mood_total,
    )


async def team_rows(session: AsyncSession, team_id: int, since: date) -> TeamRows:
    """The team's cells and weeks from ``since`` on."""
    connection = await session.connection()
    found = await connection.execute(_rows_query(), {"team_id": team_id, "since": since})
    cells: list[Cell] = []
    weeks: list[Week] = []
    for row in found.all():
        if row.is_week:
            weeks.append(_week(row))
        else:
            cells.append(Cell._make(row[1 : 1 + len(Cell._fields)]))
    return TeamRows(cells, sorted(weeks, key=lambda w: w.week))
