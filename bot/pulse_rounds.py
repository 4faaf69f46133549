"""Rounds for ``TeamPulse``: open and close a team's pulse, open many teams' pulses several per
transaction (the scheduler's tick), close the rounds that are due, cut the weeks that are over,
and what an operator sees of them (status, the CSV export)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.members import team_row
from storage.lists import one_of
from storage.models import Team
from surveys import export, opening, outbox, rollup, rollup_rows, rounds, schedules
from surveys.directory import TeamRef

if TYPE_CHECKING:
    from bot.service import TeamPulse

log = logging.getLogger(__name__)
OPEN_BATCH = 25  # rounds opened in one transaction (SQLite's one writer is held meanwhile)
Outcome = opening.OpenedRound | rounds.RoundError  # a team's round opened, or why not


def _timing(service: TeamPulse, scheduled: bool) -> opening.Timing:
    """A scheduled round's pulses are spread over the first hour (``surveys/schedules.py``), a
    manager's ``pulse send`` goes at once."""
    spread = schedules.SPREAD if scheduled else timedelta(0)
    return opening.Timing(service.clock(), service.settings.timezone, spread)


async def open_round(service: TeamPulse, ref: TeamRef, *, scheduled: bool = False) -> str:
    """Open a team's round now.  Its pulses are due from now, each when its person may be sent
    it; a scheduled round's are spread over the first hour, a manager's ``pulse send`` goes at
    once.  ``RoundError`` says why not."""
    settings = service.settings
    async with service.db.session() as session:
        team = await team_row(session, ref)
        [opened] = await opening.open_rounds(
            session, [team], service.today(), settings.round_days, _timing(service, scheduled)
        )
        if isinstance(opened, rounds.RoundError):
            raise opened
        await session.commit()
    closes = opened.round.closes_on
    away = f" ({opened.away} on leave until after it closes)" if opened.away else ""
    service.wake_outbox()
    return (
        f"Opened pulse #{opened.round.sequence} for {team.name}: {opened.invited} people "
        f"will be asked{away}; it closes on {closes:%A %d %B}."
    )


async def open_rounds(
    service: TeamPulse,
    refs: Sequence[TeamRef],
    *,
    scheduled: bool = False,
    due: opening.StillDue | None = None,
) -> int:
    """Open many teams' rounds now (the scheduler's tick: every team due at once), up to
    ``OPEN_BATCH`` in each transaction, the outbox woken after each so the first pulses go
    while the rest open; ``due``: only teams still due, read in each transaction.  A team that
    can't open (an open round, no members, no longer due) is logged and skipped; should another
    process open one of a batch's rounds meanwhile (the unique ``(team, sequence)`` key), that
    batch is opened again one team at a time.  Returns how many opened."""
    opened = 0
    for start in range(0, len(refs), OPEN_BATCH):
        batch = refs[start : start + OPEN_BATCH]
        try:
            outcomes = await _open_batch(service, batch, scheduled, due)
        except IntegrityError:
            log.info("a round was opened elsewhere meanwhile; opening these one at a time")
            outcomes = [await _open_alone(service, ref, scheduled, due) for ref in batch]
        for outcome in outcomes:
            if isinstance(outcome, rounds.RoundError):
                log.info("pulse not opened: %s", outcome)
            else:
                opened += 1
        service.wake_outbox()
    return opened


async def _open_batch(
    service: TeamPulse, refs: Sequence[TeamRef], scheduled: bool, due: opening.StillDue | None
) -> list[Outcome]:
    """One transaction: the teams' rows (read afresh: a schedule changed since counts), then
    their rounds."""
    async with service.db.session() as session:
        query = select(Team).where(one_of(session, col(Team.id), [ref.id for ref in refs]))
        found = {team.id: team for team in (await session.exec(query)).all()}
        teams = [found[ref.id] for ref in refs if ref.id in found]
        today, round_days = service.today(), service.settings.round_days
        timing = _timing(service, scheduled)
        outcomes = await opening.open_rounds(session, teams, today, round_days, timing, due)
        await session.commit()
    gone = [ref.name for ref in refs if ref.id not in found]
    return [*outcomes, *(rounds.RoundError(f"{name} is no longer a team.") for name in gone)]


async def _open_alone(
    service: TeamPulse, ref: TeamRef, scheduled: bool, due: opening.StillDue | None
) -> Outcome:
    try:
        [outcome] = await _open_batch(service, [ref], scheduled, due)
    except IntegrityError:
        return rounds.RoundError(f"{ref.name}: its round was opened elsewhere meanwhile.")
    return outcome


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
