"""Cut the published aggregates of a week (``rollup_cell`` and ``rollup_week``), once.

A round counts in the week it opened.  A week is cut when it is over (today is on or after its
Sunday's next day) and every round counted in it has closed: its aggregates are computed once, over
the whole organisation, the disclosure rules applied to them there, and every round counted is
stamped (``pulse_round.counted_in``).  A cut week is never cut again, whatever happens later (a late
round, a re-import that moves teams): a figure shown and then changed would let anyone subtract the
two readings.  Because no round can open in a week that is over, no round can join a cut week.

Respondents are people, not cards: within one team and week they are the largest single round's
respondents (one card per person per round), a lower bound on the distinct people however many
rounds the team ran.  A round's respondents are its cards less its ``unsure`` count (answers that
may repeat someone's after a process stopped or lost its claims: ``surveys/participation.py``), so
a repeated answer never counts as one more person.  While a week's rounds have ``unsure`` answers
it waits until the day after its last round closed, for live processes to give theirs back.
Reports then read a handful of rows for one team instead of scanning answers.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Insert, delete, func, insert, select, text, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import on_postgresql
from storage.models import (
    Participation,
    PulseRound,
    RollupCell,
    RollupCut,
    RollupKudos,
    RollupWeek,
)
from surveys.anonymity import Thresholds
from surveys.rollup_rows import ADVOCACY as ADVOCACY
from surveys.rollup_rows import (
    WeekRows,
    compute_week,
    counted_week,
    fingerprint,
    in_week,
    run_query,
    week_rounds,
)
from surveys.rollup_rows import adjusted_score as adjusted_score
from surveys.rollup_rows import hierarchy as hierarchy
from surveys.rollup_rows import week_of as week_of


async def _is_cut(session: AsyncSession, week: date) -> bool:
    query = select(func.count()).select_from(RollupCut).where(col(RollupCut.week) == week)
    return int((await run_query(session, query)).scalar_one()) > 0


async def _all_closed(session: AsyncSession, week: date) -> bool:
    still_open = select(func.count(col(PulseRound.id))).where(*in_week(week, closed=False))
    return int((await run_query(session, still_open)).scalar_one()) == 0


async def _settled(session: AsyncSession, week: date, today: date | None) -> bool:
    """Whether the week's reservations are settled enough to cut: none left, or ``today`` is
    after the week's last close (what remains then is a real loss, and is subtracted)."""
    if today is None:
        return True
    query = (
        select(func.max(col(PulseRound.closes_on)), func.max(col(Participation.unsure)))
        .join(Participation, col(Participation.round_id) == col(PulseRound.id))
        .where(*in_week(week))
    )
    last_close, unsure = (await run_query(session, query)).one()
    return not unsure or last_close is None or today > last_close


async def report_week_for(session: AsyncSession, today: date) -> date:
    """The week a round opened today counts in: this week.  This week can't be cut yet (a week is
    cut only once it is over); should it be anyway (replicas whose clocks disagree), the first
    uncut week after it.  On PostgreSQL the week is share-locked until the caller commits, so a
    cut of it (which takes the lock exclusively) waits for the round and then sees it open."""
    week = week_of(today)
    while True:
        await _lock_week(session, week, shared=True)
        if not await _is_cut(session, week):
            return week
        week += timedelta(days=7)


async def _lock_week(session: AsyncSession, week: date, *, shared: bool = False) -> None:
    """Cutting a week (exclusive) excludes other cuts of it and rounds being opened into it
    (shared), across replicas, until the transaction ends.  SQLite already serialises writers
    (every transaction begins IMMEDIATE)."""
    if on_postgresql(session):
        lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await session.exec(text(f"SELECT {lock}(:key)").bindparams(key=week.toordinal()))  # type: ignore[call-overload]


async def _insert(session: AsyncSession, statement: Insert, rows: list[dict[str, Any]]) -> None:
    """One executemany of plain rows (thousands per week: ORM objects would cost seconds)."""
    if rows:
        connection = await session.connection()
        await connection.execute(statement, rows)


async def due(session: AsyncSession, week: date, today: date | None) -> bool:
    """Whether ``week`` may be cut now: not cut already, every round counted in it closed, and
    (given ``today``) its reservations settled (``_settled``)."""
    if await _is_cut(session, week) or not await _all_closed(session, week):
        return False
    return await _settled(session, week, today)


async def write_week(session: AsyncSession, rows: WeekRows) -> None:
    """Write a computed week and stamp its rounds as counted in it (the caller has checked that
    it is due, under the week's lock, and commits)."""
    week = rows.week
    await session.exec(delete(RollupCell).where(col(RollupCell.week) == week))
    await session.exec(delete(RollupWeek).where(col(RollupWeek.week) == week))
    await session.exec(delete(RollupKudos).where(col(RollupKudos.week) == week))
    await _insert(session, insert(RollupCell), rows.cells)
    await _insert(session, insert(RollupWeek), rows.weeks)
    await _insert(session, insert(RollupKudos), rows.kudos)
    stamp = update(PulseRound).where(col(PulseRound.id).in_(week_rounds(week)))
    await (await session.connection()).execute(stamp.values(counted_in=week))
    session.add(RollupCut(week=week))
    await session.flush()


async def write_if_unchanged(
    session: AsyncSession, rows: WeekRows, today: date | None
) -> bool | None:
    """Write a week computed in another transaction, if it is still due and its inputs are as
    they were (``fingerprint``): True once written, False if it is no longer due (cut meanwhile
    by another process, or a round opened into it), None if its inputs changed (compute it
    again).  Takes the week's lock; the caller commits."""
    await _lock_week(session, rows.week)
    if not await due(session, rows.week, today):
        return False
    if await fingerprint(session, rows.week) != rows.inputs:
        return None
    await write_week(session, rows)
    return True


async def rebuild_week(
    session: AsyncSession, week: date, thresholds: Thresholds, today: date | None = None
) -> bool:
    """Cut one week's published aggregates for every team in one transaction (the caller
    commits), if it is due (``due``); returns whether it was cut.  The application cuts weeks in
    two transactions instead (``bot/pulse_rounds.py``), so that answers never wait for the
    computing.

    Call it for weeks that are over only (``weeks_to_cut``): a round opened later in the week
    would otherwise count in a week already cut and never be shown.
    """
    week = week_of(week)
    await session.flush()  # the closing round must be seen closed by the Core queries below
    await _lock_week(session, week)
    if not await due(session, week, today):
        return False
    await write_week(session, await compute_week(session, week, thresholds))
    return True


async def rebuild_weeks(session: AsyncSession, weeks: set[date], thresholds: Thresholds) -> None:
    for week in sorted({week_of(w) for w in weeks}):
        await rebuild_week(session, week, thresholds)


async def weeks_to_cut(session: AsyncSession, today: date) -> list[date]:
    """The weeks over (before ``today``'s week) with a round not yet counted, and not cut: the
    candidates for a cut (each is cut only if ``due``)."""
    await session.flush()
    query = (
        select(counted_week())
        .where(col(PulseRound.counted_in).is_(None), counted_week() < week_of(today))
        .distinct()
    )
    cut = select(col(RollupCut.week)).where(col(RollupCut.week) < week_of(today))
    done = {week for (week,) in (await run_query(session, cut)).all()}
    # closed rounds of a cut week may stay unstamped for ever (ones migration 0005 could not
    # prove were counted): their weeks are skipped here, not re-tried on every tick
    return sorted({week_of(day) for (day,) in (await run_query(session, query)).all()} - done)


async def cut_due_weeks(session: AsyncSession, today: date, thresholds: Thresholds) -> list[date]:
    """Cut every week that is over whose rounds have all closed and that is not cut yet, each
    in the caller's transaction; returns the weeks cut (the caller commits)."""
    weeks = await weeks_to_cut(session, today)
    return [week for week in weeks if await rebuild_week(session, week, thresholds, today)]
