"""APScheduler drives time; the database (rounds, outbox) is the truth.

Jobs: the outbox's sender (woken as rows are queued, polled as a backstop; in every process), and,
in the one process elected leader (``storage/leader.py``), the tick: close rounds whose day has
come and cut the weeks that are over (every tick, so a week is published even when no round
closes), open each team's scheduled pulse, and start the day-before reminders and low-turnout
warnings in a task of their own (``remind``: at most one per process, so the tick never waits
for the platform's pace); and once a day (03:30 in ``TEAMPULSE_TIMEZONE``) delete comments past
their retention (``TeamPulse.prune_comments``).
A team is due when its cron trigger (``day`` at ``time`` in its timezone) has fired since its last
round opened; a fortnightly team also waits 13 days (each schedule's trigger, and its next time
after a given day, are worked out once and kept: ``_next_fire``).  The due teams' rounds are
opened several per transaction (``TeamPulse.open_rounds``), each transaction reading again
whether its teams are still due; a team with an open round is skipped, and the unique (team,
sequence) key stops a second replica opening the same round twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot import wake
from bot.service import TeamPulse
from storage.engine import unavailable
from storage.leader import Election
from storage.models import Team
from surveys import day_before, directory, rounds
from surveys.directory import TeamRef

log = logging.getLogger(__name__)
OUTBOX_POLL_SECONDS = 20  # the backstop: the sender is woken as rows are queued
PRUNE_AT = time(3, 30)  # local time of the daily retention job: a quiet hour


def next_due(team: Team, last_opened: date | None, default_tz: str) -> datetime:
    """When the team's next pulse should open: the first scheduled time after the day its last
    round opened (fortnightly: 13 days after; monthly: the month's first such weekday, from the
    next month), or after the team was set up.  The trigger keeps local time across clock
    changes: a team at 10:00 opens at 10:00 local in summer and in winter."""
    zone = team.timezone or default_tz
    tz = ZoneInfo(zone)
    monthly = team.cadence == "monthly"
    if last_opened is None:
        start = team.created_at.replace(tzinfo=team.created_at.tzinfo or UTC).astimezone(tz)
    elif monthly:
        month_end = last_opened.replace(day=28) + timedelta(days=4)
        start = datetime.combine(month_end.replace(day=1), time(), tzinfo=tz)
    else:
        gap = 13 if team.cadence == "fortnightly" else 1
        start = datetime.combine(last_opened + timedelta(days=gap), time(), tzinfo=tz)
    return _next_fire(monthly, team.schedule_day, team.schedule_time, zone, start)


@lru_cache(maxsize=4096)
def _next_fire(monthly: bool, day: str, at: str, zone: str, start: datetime) -> datetime:
    """The schedule's first time on or after ``start``, kept: the tick asks it for every team
    every minute, and most teams share a schedule and the day their last round opened (so
    their ``start``).  Keyed on the schedule itself, so a team whose schedule changes is
    asked about its new one at the next tick."""
    fire: datetime | None = _trigger(monthly, day, at, zone).get_next_fire_time(None, start)
    assert fire is not None
    return fire


@lru_cache(maxsize=1024)
def _trigger(monthly: bool, day: str, at: str, zone: str) -> CronTrigger:
    """The cron trigger of a schedule (``day`` at ``at`` in ``zone``; monthly: the month's first
    such weekday), kept: an organisation has few distinct schedules.  (A trigger holds no
    state: ``get_next_fire_time`` only reads it.)"""
    hour, minute = (int(part) for part in at.split(":"))
    return CronTrigger(
        day=f"1st {day}" if monthly else None,
        day_of_week=None if monthly else day,
        hour=hour,
        minute=minute,
        timezone=ZoneInfo(zone),
    )


class PulseScheduler:
    """Time-driven jobs, plus the outbox's sender: it drains the outbox whenever it is woken
    (rows queued in this process, or a PostgreSQL ``NOTIFY`` from any replica) and, as the
    backstop, every ``poll_seconds`` (retries falling due, leases running out): by default
    ``OUTBOX_POLL_SECONDS``, or the outbox's lease if shorter, so that a dead replica's sends
    are picked up soon after their lease.  The sender runs in every process (rows are claimed
    with SKIP LOCKED); the tick runs only while this process is the elected leader
    (``election``)."""

    def __init__(
        self,
        service: TeamPulse,
        poll_seconds: float | None = None,
        election: Election | None = None,
    ) -> None:
        self.service = service
        lease = service.settings.outbox_lease_seconds
        self.poll_seconds = poll_seconds or min(OUTBOX_POLL_SECONDS, lease)
        self.election = election or Election(service.db.engine)
        self.scheduler = AsyncIOScheduler(timezone=service.settings.timezone)
        self._running: set[asyncio.Task[None]] = set()
        self._ticks: set[asyncio.Task[None]] = set()
        self._reminding: asyncio.Task[None] | None = None  # at most one at a time: remind()
        self._sender: asyncio.Task[None] | None = None
        self._campaign: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], Awaitable[None]] | None = None
        self.woken = 0  # drains started by a wake rather than by the poll
        self.idle = asyncio.Event()  # set while the sender waits for a wake

    async def start_sender(self) -> None:
        """Start the outbox's sender (``start`` does this too); it drains at once, then on each
        wake."""
        self._unlisten = await wake.listen(self.service.db, self.service.wake_outbox)
        self.service.wake_outbox()
        self._sender = asyncio.get_running_loop().create_task(self._send_forever())

    async def _send_forever(self) -> None:
        signal = self.service.outbox_wake
        while True:
            if not signal.is_set():
                self.idle.set()
            try:
                await asyncio.wait_for(signal.wait(), self.poll_seconds)
                self.woken += 1
            except TimeoutError:
                pass
            self.idle.clear()
            signal.clear()
            try:
                await self.deliver()
            except Exception as error:
                log.warning(
                    "the outbox drain failed (%s); the next wake or poll tries again",
                    type(error).__name__,
                )

    async def start(self) -> None:
        """The sender now; the tick whenever this process is elected (at once on SQLite)."""
        await self.start_sender()
        self.scheduler.start()
        self._campaign = asyncio.get_running_loop().create_task(
            self.election.run(self._lead, self._step_down)
        )

    async def _lead(self) -> None:
        self.scheduler.add_job(
            self.tick,
            "interval",
            minutes=1,
            id="rounds",
            max_instances=1,
            coalesce=True,
            next_run_time=self.service.clock(),
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.prune,
            CronTrigger(
                hour=PRUNE_AT.hour,
                minute=PRUNE_AT.minute,
                timezone=ZoneInfo(self.service.settings.timezone),
            ),
            id="retention",
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )

    async def _step_down(self) -> None:
        """No new tick or retention run, and the tick running (if any) is cancelled: its
        transaction rolls back; so is this process's reminding (the reminders it had claimed and
        not yet sent are lost, as in a crash: a reminder goes at most once)."""
        for job in ("rounds", "retention"):
            if self.scheduler.get_job(job) is not None:
                self.scheduler.remove_job(job)
        stopping = [*self._ticks, *([self._reminding] if self._reminding else [])]
        for task in stopping:
            task.cancel()
        await asyncio.gather(*stopping, return_exceptions=True)

    @property
    def leading(self) -> bool:
        return self.election.leading

    async def stop(self) -> None:
        """Stop scheduling and finish (cancel) any job still running, before the database closes."""
        if self._campaign is not None:
            self._campaign.cancel()  # steps down: the lock goes with its connection
            await asyncio.gather(self._campaign, return_exceptions=True)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._unlisten is not None:
            await self._unlisten()
        running = self._running | ({self._reminding} if self._reminding else set())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _tracked(self, work: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await work()
        finally:
            self._running.discard(task)

    async def deliver(self) -> None:
        await self._tracked(self._deliver)

    async def _deliver(self) -> None:
        await self.service.deliver_outbox()

    async def prune(self) -> None:
        await self._tracked(self._prune)

    async def _prune(self) -> None:
        try:
            pruned = await self.service.prune_comments()
        except Exception:
            log.warning("deleting comments past their retention failed; tomorrow tries again")
            return
        if pruned.statement_comments or pruned.general_comments:
            log.info(
                "comments past their retention deleted",
                extra={
                    "before": pruned.cutoff.isoformat() if pruned.cutoff else None,
                    "statement_comments": pruned.statement_comments,
                    "general_comments": pruned.general_comments,
                },
            )

    async def tick(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._ticks.add(task)
        try:
            await self._tracked(self._tick)
        except Exception as error:  # the job stays scheduled: the next minute tries again
            if not unavailable(error):
                raise
            log.warning("the scheduler's tick: database unavailable (%s)", type(error).__name__)
        finally:
            self._ticks.discard(task)

    async def _tick(self) -> None:
        await self.service.close_due_rounds()
        due = await self.due_teams()
        if due:
            log.info("opening scheduled pulses", extra={"teams": len(due)})
            await self.service.open_rounds(
                [TeamRef.of(team) for team in due], scheduled=True, due=self.still_due()
            )
        await self._start_reminding()

    def still_due(self) -> Callable[[Team, date | None], bool]:
        """Whether a team is still due now, given the day its last round opened (read again
        where its round is opened: a ``pulse send`` since ``due_teams`` wins)."""
        now, default_tz = self.service.clock(), self.service.settings.timezone
        return lambda team, last_opened: next_due(team, last_opened, default_tz) <= now

    async def _start_reminding(self) -> None:
        """Start this process's reminding (reminders, then low-turnout warnings) as a task of its
        own, if the day-before work has anything to do and no reminding is running here: sent at
        the platform's pace, reminders can take minutes (12,398 took 232 s on Slack), and the tick
        must not wait for them to close and open rounds.  A tick that finds one running starts
        none; whatever it leaves is found by a later tick (the queueing and the claims are the
        database's: ``bot/reminders.py``, ``bot/turnout.py``)."""
        if self._reminding is not None and not self._reminding.done():
            log.debug("reminders still being sent; this tick starts no more")
            return
        async with self.service.db.session() as session:
            if not await day_before.due(session, self.service.today()):
                return
        self._reminding = asyncio.get_running_loop().create_task(self.remind())

    async def remind(self) -> None:
        """Queue and send the reminders due, then warn the managers of rounds short of ``k``."""
        await self._tracked(self._remind)

    async def _remind(self) -> None:
        for work in (self.service.send_reminders, self.service.warn_low_turnout):
            try:
                await work()
            except Exception as error:  # what is left is found by a later tick
                log.warning(
                    "sending the day-before messages failed (%s); a later tick tries again",
                    type(error).__name__,
                )

    async def reminded(self) -> None:
        """Until the reminding this process started (if any) has finished."""
        if self._reminding is not None:
            await asyncio.gather(self._reminding, return_exceptions=True)

    async def due_teams(self) -> list[Team]:
        """The teams whose scheduled pulse is due now, by name: four queries (the teams, each
        team's last opening day, the teams with an open round, the teams with members) however
        many teams there are."""
        now = self.service.clock()
        default_tz = self.service.settings.timezone
        async with self.service.db.session() as session:
            teams = await directory.all_teams(session)
            last_opened = await rounds.last_opened_by_team(session)
            busy = await rounds.teams_with_open_round(session)
            staffed = await directory.teams_with_members(session)
        return [
            team
            for team in teams
            if team.id not in busy
            and team.id in staffed
            and next_due(team, last_opened.get(team.id or 0), default_tz) <= now
        ]
