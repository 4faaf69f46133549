"""How many comments each published cell holds, and their mood, kept in the rollups.

A report's total ("Showing 10 of N") and mood read these counts instead of visiting every answer
of its comment weeks (``surveys/comments.py``).  They are counted exactly as a report shows
comments (docs/anonymity.md): a (team, week, theme) cell counts the comments on that theme from
the rounds that week's cut counted, in the teams below the team **as that week was cut**
(``rollup_week.parent_id``), reached only through teams that have a ``rollup_week`` row that
week (a report walks those rows down from its team); a (team, week) row counts the general
comments the same way.  Comments with no mood count in ``comments`` only.

They are computed at the cut (``count_week``), and follow retention: ``uncount`` takes off the
comments a prune batch clears, in the batch's own transaction (``surveys/lifecycle.py``).
Migration 0014 counted the weeks cut before it with the same rules, in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, String, bindparam, cast, func, null, select, tuple_, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import GeneralComment, PulseRound, Question, Response, RollupCell, RollupWeek

# (team, theme): a theme's comments; theme None: the general comments
Key = tuple[int, str | None]


@dataclass
class Tally:
    """Comments, how many of them have a mood, and the sum of those moods."""

    comments: int = 0
    moods: int = 0
    mood_total: float = 0.0

    def add(self, other: Tally) -> None:
        self.comments += other.comments
        self.moods += other.moods
        self.mood_total += other.mood_total


def above_as_cut(team: int, parents: Mapping[int, int | None]) -> Iterator[int]:
    """``team`` and each team above it as the week was cut, while each has a row that week
    (``parents``: the week's ``rollup_week`` rows, team -> parent): the teams whose report's
    walk down reaches ``team``.  None when ``team`` itself has no row.  A cycle ends the walk."""
    seen: set[int] = set()
    current: int | None = team
    while current is not None and current in parents and current not in seen:
        seen.add(current)
        yield current
        current = parents[current]


def _tied_query(rounds: Select[Any]) -> Select[Any]:
    """Per round's team and theme: the comments on statements of ``rounds``, with their moods."""
    return (
        select(
            col(PulseRound.team_id),
            col(Question.theme),
            func.count(),
            func.count(col(Response.sentiment)),
            func.sum(col(Response.sentiment)),
        )
        .select_from(Response)
        .join(PulseRound, col(PulseRound.id) == col(Response.round_id))
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(
            col(Response.round_id).in_(rounds.correlate(None)),  # (not the joined round's)
            col(Response.comment).is_not(None),
        )
        .group_by(col(PulseRound.team_id), col(Question.theme))
    )


def _general_query(rounds: Select[Any]) -> Select[Any]:
    """Per round's team: the general comments of ``rounds``, with their moods."""
    return (
        select(
            col(PulseRound.team_id),
            cast(null(), String),
            func.count(),
            func.count(col(GeneralComment.sentiment)),
            func.sum(col(GeneralComment.sentiment)),
        )
        .select_from(GeneralComment)
        .join(PulseRound, col(PulseRound.id) == col(GeneralComment.round_id))
        .where(col(GeneralComment.round_id).in_(rounds.correlate(None)))
        .group_by(col(PulseRound.team_id))
    )


async def own_counts(session: AsyncSession, rounds: Select[Any]) -> dict[Key, Tally]:
    """Each team's own comments of ``rounds`` (a query of round ids), per theme and general."""
    connection = await session.connection()
    own: dict[Key, Tally] = {}
    for query in (_tied_query(rounds), _general_query(rounds)):
        for team, theme, comments, moods, total in (await connection.execute(query)).all():
            own[team, theme] = Tally(int(comments), int(moods), float(total or 0.0))
    return own


def subtree_counts(own: Mapping[Key, Tally], parents: Mapping[int, int | None]) -> dict[Key, Tally]:
    """Each team's count over the teams its report reaches as the week was cut."""
    sums: dict[Key, Tally] = defaultdict(Tally)
    for (team, theme), tally in own.items():
        for top in above_as_cut(team, parents):
            sums[top, theme].add(tally)
    return sums


def attach(
    cells: list[dict[str, Any]], weeks: list[dict[str, Any]], counts: dict[Key, Tally]
) -> None:
    """Put the counts on a week's cut rows (every row gets them, zero when it has none)."""
    for cell in cells:
        tally = counts.get((cell["team_id"], cell["theme"]), Tally())
        cell.update(comments=tally.comments, moods=tally.moods, mood_total=tally.mood_total)
    for row in weeks:
        tally = counts.get((row["team_id"], None), Tally())
        row.update(
            general_comments=tally.comments,
            general_moods=tally.moods,
            general_mood_total=tally.mood_total,
        )


def count_week(
    cells: list[dict[str, Any]], weeks: list[dict[str, Any]], own: Mapping[Key, Tally]
) -> None:
    """Count a week's comments into its cut rows (``own``: each team's own, ``own_counts``)."""
    parents = {row["team_id"]: row["parent_id"] for row in weeks}
    attach(cells, weeks, subtree_counts(own, parents))


async def _parents_as_cut(
    session: AsyncSession, pairs: set[tuple[int, date]]
) -> dict[date, dict[int, int | None]]:
    """week -> team -> parent as cut, for the (team, week) pairs and every row above them, read
    a level at a time by primary key."""
    connection = await session.connection()
    found: dict[date, dict[int, int | None]] = defaultdict(dict)
    todo = set(pairs)
    while todo:
        query = select(
            col(RollupWeek.team_id), col(RollupWeek.week), col(RollupWeek.parent_id)
        ).where(tuple_(col(RollupWeek.team_id), col(RollupWeek.week)).in_(sorted(todo)))
        rows = (await connection.execute(query)).all()
        for team, week, parent in rows:
            found[week][team] = parent
        todo = {
            (parent, week)
            for _, week, parent in rows
            if parent is not None and parent not in found[week]
        }
    return found


async def uncount(
    session: AsyncSession, cleared: Mapping[tuple[date, int, str | None], Tally]
) -> None:
    """Take comments off the counts of every row that counted them: ``cleared`` is (the week
    that counted the round, the round's team, the theme or None for general) -> what went."""
    if not cleared:
        return
    parents = await _parents_as_cut(session, {(team, week) for week, team, _ in cleared})
    tied: dict[tuple[date, int, str], Tally] = defaultdict(Tally)
    general: dict[tuple[date, int], Tally] = defaultdict(Tally)
    for (week, team, theme), tally in cleared.items():
        for top in above_as_cut(team, parents.get(week, {})):
            if theme is None:
                general[week, top].add(tally)
            else:
                tied[week, top, theme].add(tally)
    connection = await session.connection()
    if tied:
        cell = update(RollupCell).where(
            col(RollupCell.team_id) == bindparam("t"),
            col(RollupCell.week) == bindparam("w"),
            col(RollupCell.theme) == bindparam("th"),
        )
        await connection.execute(
            cell.values(
                comments=col(RollupCell.comments) - bindparam("n"),
                moods=col(RollupCell.moods) - bindparam("m"),
                mood_total=col(RollupCell.mood_total) - bindparam("s"),
            ),
            [
                {"t": top, "w": week, "th": theme, "n": c.comments, "m": c.moods, "s": c.mood_total}
                for (week, top, theme), c in tied.items()
            ],
        )
    if general:
        row = update(RollupWeek).where(
            col(RollupWeek.team_id) == bindparam("t"), col(RollupWeek.week) == bindparam("w")
        )
        await connection.execute(
            row.values(
                general_comments=col(RollupWeek.general_comments) - bindparam("n"),
                general_moods=col(RollupWeek.general_moods) - bindparam("m"),
                general_mood_total=col(RollupWeek.general_mood_total) - bindparam("s"),
            ),
            [
                {"t": top, "w": week, "n": c.comments, "m": c.moods, "s": c.mood_total}
                for (week, top), c in general.items()
            ],
        )
