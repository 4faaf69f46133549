"""Rebuild the published aggregates of a week (``rollup_cell`` and ``rollup_week``).

Runs when rounds close: a closed round never changes again, so its week's aggregates are computed
once, over the whole organisation, and the disclosure rules are applied to them there.  Reports then
read a handful of rows for one team instead of scanning answers.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Insert,
    Integer,
    Result,
    Select,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Delivery,
    PulseRound,
    Question,
    Response,
    RollupCell,
    RollupCut,
    RollupWeek,
    Team,
)
from surveys.anonymity import Thresholds
from surveys.disclosure import Hierarchy, publishable


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def _run(session: AsyncSession, query: Select[Any]) -> Result[Any]:
    connection = await session.connection()
    return await connection.execute(query)


def adjusted_score() -> Any:
    """The score with negatively worded statements reversed (6 - score)."""
    return case((col(Question.reverse), 6 - col(Response.score)), else_=col(Response.score))


async def hierarchy(session: AsyncSession) -> Hierarchy:
    rows = (await _run(session, select(col(Team.id), col(Team.parent_id)))).all()
    return Hierarchy({team: parent for team, parent in rows})


def counted_week() -> Any:
    """The day a round's results count from: its report week, else the day it opened."""
    return func.coalesce(col(PulseRound.report_week), col(PulseRound.opened_on))


def _in_week(week: date, *, closed: bool = True) -> Any:
    return (
        col(PulseRound.closed).is_(closed),
        counted_week() >= week,
        counted_week() < week + timedelta(days=7),
    )


async def _is_cut(session: AsyncSession, week: date) -> bool:
    return await session.get(RollupCut, week) is not None


async def _all_closed(session: AsyncSession, week: date) -> bool:
    still_open = select(func.count(col(PulseRound.id))).where(*_in_week(week, closed=False))
    return int((await _run(session, still_open)).scalar_one()) == 0


async def report_week_for(session: AsyncSession, today: date) -> date:
    """The week a round opened today counts in: this week, or the next if this one is cut."""
    week = week_of(today)
    return week + timedelta(days=7) if await _is_cut(session, week) else week


def _week_rounds(week: date) -> Select[Any]:
    """The ids of the week's closed rounds.  Answers are found from these through
    ``ix_response_round_question``, so a week's rebuild reads that week's answers, not the table."""
    return select(col(PulseRound.id)).where(*_in_week(week))


ADVOCACY = "advocacy"
STATS = 6  # respondents, answers, total, squares, favourable, unfavourable


async def _own_cells(session: AsyncSession, week: date) -> dict[str, dict[int, list[float]]]:
    """theme -> team -> stats of the team's own rounds; the advocacy items also count under
    ``advocacy`` (for an eNPS-style score)."""
    cells: dict[str, dict[int, list[float]]] = defaultdict(dict)
    for advocacy in (False, True):
        query = _cells_query(week, advocacy)
        for team, theme, *stats in (await _run(session, query)).all():
            cells[theme][team] = [float(v or 0) for v in stats]
    return cells


def _cells_query(week: date, advocacy: bool) -> Select[Any]:
    score = adjusted_score()
    theme = literal(ADVOCACY) if advocacy else col(Question.theme)
    query = (
        select(
            col(Response.team_id),
            theme,
            func.count(func.distinct(col(Response.submission_id))),
            func.count(),
            func.sum(score),
            func.sum(score * score),
            func.sum(case((score >= 4, 1), else_=0).cast(Integer)),
            func.sum(case((score <= 2, 1), else_=0).cast(Integer)),
        )
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(col(Response.round_id).in_(_week_rounds(week)))
    )
    if advocacy:
        # As an IN on the answer's question (not a filter on the joined question), so only the
        # advocacy answers are read, through ix_response_round_question (round_id, question_id).
        advocacy_ids = select(col(Question.id)).where(col(Question.advocacy))
        return query.where(col(Response.question_id).in_(advocacy_ids)).group_by(
            col(Response.team_id)
        )
    return query.group_by(col(Response.team_id), col(Question.theme))


async def _own_participation(session: AsyncSession, week: date) -> dict[int, tuple[int, int]]:
    invited_q = (
        select(col(PulseRound.team_id), func.count(col(Delivery.id)))
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .where(col(PulseRound.id).in_(_week_rounds(week)))
        .group_by(col(PulseRound.team_id))
    )
    # cards counted from the answers themselves: who answered is written late, in batches
    # (surveys/participation.py), so Participation.respondents is not a count to rely on
    answered_q = (
        select(col(Response.team_id), func.count(func.distinct(col(Response.submission_id))))
        .where(col(Response.round_id).in_(_week_rounds(week)))
        .group_by(col(Response.team_id))
    )
    invited: dict[int, int] = {t: n for t, n in (await _run(session, invited_q)).all()}
    answered: dict[int, int] = {t: n for t, n in (await _run(session, answered_q)).all()}
    return {team: (int(invited.get(team, 0)), int(answered.get(team) or 0)) for team in invited}


def _subtree_sums(tree: Hierarchy, own: dict[int, list[float]]) -> dict[int, list[float]]:
    """Each team's subtree sums, for the teams with answers in their subtree (the others' are
    all zero and left out)."""
    sums = {team: list(stats) for team, stats in own.items() if team in tree.parents}
    for team in tree.post_order:
        stats, parent = sums.get(team), tree.parents[team]
        if stats is None or parent is None or parent not in tree.parents:
            continue
        above = sums.get(parent)
        sums[parent] = (
            list(stats) if above is None else [a + b for a, b in zip(above, stats, strict=True)]
        )
    return sums


async def _lock_week(session: AsyncSession, week: date) -> None:
    """One rebuild of a week at a time across replicas (SQLite already serialises writers)."""
    if session.bind.dialect.name == "postgresql":
        await session.exec(
            text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=week.toordinal())
        )  # type: ignore[call-overload]


async def _insert(session: AsyncSession, statement: Insert, rows: list[dict[str, Any]]) -> None:
    """One executemany of plain rows (thousands per week: ORM objects would cost seconds)."""
    if rows:
        connection = await session.connection()
        await connection.execute(statement, rows)


async def rebuild_week(
    session: AsyncSession, week: date, thresholds: Thresholds, *, recut: bool = False
) -> bool:
    """Cut one week's published aggregates for every team (the caller commits).

    A week is cut once, when every round counted in it has closed: a figure shown early and then
    changed by a later round would let anyone subtract the two readings.  ``recut`` is for a
    changed hierarchy only.  Returns whether the week was (re)cut.
    """
    week = week_of(week)
    await session.flush()  # the closing round must be seen closed by the Core queries below
    await _lock_week(session, week)
    if not await _all_closed(session, week) or (await _is_cut(session, week) and not recut):
        return False
    tree = await hierarchy(session)
    await session.exec(delete(RollupCell).where(col(RollupCell.week) == week))
    await session.exec(delete(RollupWeek).where(col(RollupWeek.week) == week))
    cells: list[dict[str, Any]] = []
    for theme, own in (await _own_cells(session, week)).items():
        published, _ = publishable(
            tree, {t: int(s[0]) for t, s in own.items()}, thresholds.min_group
        )
        cells.extend(
            {
                "team_id": team,
                "week": week,
                "theme": theme,
                "respondents": int(stats[0]),
                "answers": int(stats[1]),
                "total": stats[2],
                "squares": stats[3],
                "favourable": int(stats[4]),
                "unfavourable": int(stats[5]),
                "published": team in published,
            }
            for team, stats in _subtree_sums(tree, own).items()
            if stats[0] > 0
        )
    await _insert(session, insert(RollupCell), cells)
    participation = await _own_participation(session, week)
    answered_own = {team: pair[1] for team, pair in participation.items()}
    shown, answered = publishable(tree, answered_own, thresholds.min_group)
    comments, _ = publishable(tree, answered_own, thresholds.min_comment_group)
    invited = tree.totals({team: pair[0] for team, pair in participation.items()})
    weeks = [
        {
            "team_id": team,
            "week": week,
            "invited": invited[team],
            "respondents": count,
            "published": team in shown,
            "comments_published": team in comments,
        }
        for team, count in answered.items()
        if invited[team] > 0
    ]
    await _insert(session, insert(RollupWeek), weeks)
    if not await _is_cut(session, week):
        session.add(RollupCut(week=week))
        await session.flush()
    return True


async def rebuild_weeks(
    session: AsyncSession, weeks: set[date], thresholds: Thresholds, *, recut: bool = False
) -> None:
    for week in sorted({week_of(w) for w in weeks}):
        await rebuild_week(session, week, thresholds, recut=recut)


async def rebuild_all(session: AsyncSession, thresholds: Thresholds) -> int:
    """After the hierarchy changes (an organisation import): every week with closed rounds."""
    query = select(counted_week()).where(col(PulseRound.closed).is_(True)).distinct()
    weeks = {week_of(day) for (day,) in (await _run(session, query)).all()}
    await rebuild_weeks(session, weeks, thresholds, recut=True)
    return len(weeks)
