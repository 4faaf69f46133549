"""Rounds for ``TeamPulse``: open and close a team's pulse, close the rounds that are due, cut the
weeks that are over, and what an operator sees of them (status, the CSV export)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from bot.members import team_row
from surveys import export, outbox, rollup, rollup_rows, rounds, schedules
from surveys.directory import TeamRef

if TYPE_CHECKING:
    from bot.service import TeamPulse


async def open_round(service: TeamPulse, ref: TeamRef, *, scheduled: bool = False) -> str:
    """Open a team's round now.  Its pulses are due from now, each when its person may be sent
    it; a scheduled round's are spread over the first hour (``surveys/schedules.py``), a
    manager's ``pulse send`` goes at once."""
    settings = service.settings
    spread = schedules.SPREAD if scheduled else timedelta(0)
    timing = rounds.Timing(service.clock(), settings.timezone, spread)
    async with service.db.session() as session:
        team = await team_row(session, ref)
        opened = await rounds.open_round(
            session, team, service.today(), settings.round_days, timing
        )
        await session.commit()
        closes = opened.round.closes_on
    away = f" ({opened.away} on leave until after it closes)" if opened.away else ""
    service.wake_outbox()
    return (
        f"Opened pulse #{opened.round.sequence} for {team.name}: {opened.invited} people "
        f"will be asked{away}; it closes on {closes:%A %d %B}."
    )


async def close_round(service: TeamPulse, ref: TeamRef) -> str:
    async with service.db.session() as session:
        team = await team_row(session, ref)
        closed = await rounds.close_round(session, team, service.today())
        await session.commit()
    assert closed.id is not None
    # who answered is written, and this process's reservation given back, before the cut
    await service.participants.flush_rounds({closed.id})
    cut = await service.cut_due_weeks()
    week = rollup.week_of(closed.report_week or closed.opened_on)
    if week in cut:
        return (
            f"Closed pulse #{closed.sequence} for {team.name}. Its week (w/c {week:%d %b}) "
            "is over and all its pulses have closed, so its results are in trends now (and "
            "never change after that)."
        )
    return (
        f"Closed pulse #{closed.sequence} for {team.name}. Its results appear in trends once "
        f"its week (w/c {week:%d %b}) is over and all that week's pulses have closed (and "
        "never change after that)."
    )


async def close_due_rounds(service: TeamPulse) -> int:
    """Close the rounds whose day has come, then cut the weeks that are due (the scheduler's
    tick: a week is cut once it is over, even when no round closes that day)."""
    async with service.db.session() as session:
        closed = await rounds.close_due_rounds(session, service.today())
        await session.commit()
    # who answered is written, and this process's reservation given back, before the cut
    await service.participants.flush_rounds({r.id for r in closed if r.id is not None})
    await service.cut_due_weeks()
    return len(closed)


async def cut_due_weeks(service: TeamPulse) -> list[date]:
    """Publish every week that is over and whose pulses have all closed (at start-up and after
    the demo loads); returns the weeks cut."""
    async with service.db.reading() as session:
        weeks = await rollup.weeks_to_cut(session, service.today())
    return [week for week in weeks if await cut_week(service, week)]


CUT_TRIES = 3  # computed cuts whose inputs changed under them before one transaction does it all


async def cut_week(service: TeamPulse, week: date) -> bool:
    """Cut one week, if it is due, so that answers never wait for it: its rows are computed in
    a session that only reads (on SQLite, a snapshot that holds no lock; a second or more at a
    million answers), then written in a short transaction that first checks, under the week's
    lock, that the week is still due and its inputs unchanged (``rollup.write_if_unchanged``).
    A week is still cut exactly once: the writer checks ``rollup_cut`` under the lock.  Should
    its inputs keep changing, the last try computes and writes in one transaction."""
    today, thresholds = service.today(), service.thresholds
    for _ in range(CUT_TRIES):
        async with service.db.reading() as reading:
            if not await rollup.due(reading, week, today):
                return False
            rows = await rollup_rows.compute_week(reading, week, thresholds)
        async with service.db.session() as session:
            written = await rollup.write_if_unchanged(session, rows, today)
            await session.commit()
        if written is not None:
            return written
    async with service.db.session() as session:
        cut = await rollup.rebuild_week(session, week, thresholds, today)
        await session.commit()
    return cut


async def export_csv(service: TeamPulse, ref: TeamRef, weeks: int) -> str:
    """The admin export: published cells only, the same rules as the reports."""
    async with service.db.session() as session:
        team = await team_row(session, ref)
        return await export.published_csv(session, ref.id, team.name, weeks, service.today())


async def status_report(service: TeamPulse) -> str:
    """Operator view of open rounds: counts only, never who has or hasn't answered."""
    async with service.db.session() as session:
        lines = []
        for pulse_round, team, counts in await rounds.open_round_overview(session):
            k = service.settings.min_group
            answered = str(counts.answered) if counts.answered >= k else f"fewer than {k}"
            lines.append(
                f"{team.name}: pulse #{pulse_round.sequence} open until "
                f"{pulse_round.closes_on:%a %d %b}; {counts.invited} invited, {counts.sent} "
                f"delivered, {counts.pending} waiting, {counts.failed} failed; "
                f"{answered} answered"
            )
        by_state = await outbox.counts_by_state(session)
    rounds_text = "\n".join(lines) or "No pulse is open."
    return f"{rounds_text}\n{outbox_line(by_state)}"


def outbox_line(counts: dict[str, int]) -> str:
    """The outbox by state, counts only: ``Outbox: 3 pending, 1 in flight, …``."""
    return "Outbox: " + ", ".join(f"{counts[state]} {state}" for state in outbox.STATES)


async def outbox_counts(service: TeamPulse) -> dict[str, int]:
    async with service.db.session() as session:
        return await outbox.counts_by_state(session)
