"""APScheduler drives time; the database (rounds, outbox) is the truth.

Jobs: deliver the outbox, close rounds whose day has come and cut the weeks that are over (every
tick, so a week is published even when no round closes), and open each team's scheduled pulse.
A team is due when its cron trigger (``day`` at ``time`` in its timezone) has fired since its last
round opened; a fortnightly team also waits 13 days.  A team with an open round is skipped, and the
unique (team, sequence) key stops a second replica opening the same round twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.service import TeamPulse
from storage.models import PulseRound, Team
from surveys import directory, rounds
from surveys.directory import TeamRef

log = logging.getLogger(__name__)


def next_due(team: Team, last_opened: date | None, default_tz: str) -> datetime:
    """When the team's next pulse should open: the first scheduled time after the day its last
    round opened (fortnightly: 13 days after; monthly: the month's first such weekday, from the
    next month), or after the team was set up.  The trigger keeps local time across clock
    changes: a team at 10:00 opens at 10:00 local in summer and in winter."""
    tz = ZoneInfo(team.timezone or default_tz)
    hour, minute = (int(part) for part in team.schedule_time.split(":"))
    monthly = team.cadence == "monthly"
    day = f"1st {team.schedule_day}" if monthly else None
    weekday = None if monthly else team.schedule_day
    trigger = CronTrigger(day=day, day_of_week=weekday, hour=hour, minute=minute, timezone=tz)
    if last_opened is None:
        start = team.created_at.replace(tzinfo=team.created_at.tzinfo or UTC).astimezone(tz)
    elif monthly:
        month_end = last_opened.replace(day=28) + timedelta(days=4)
        start = datetime.combine(month_end.replace(day=1), time(), tzinfo=tz)
    else:
        gap = 13 if team.cadence == "fortnightly" else 1
        start = datetime.combine(last_opened + timedelta(days=gap), time(), tzinfo=tz)
    fire: datetime | None = trigger.get_next_fire_time(None, start)
    assert fire is not None
    return fire


class PulseScheduler:
    def __init__(self, service: TeamPulse) -> None:
        self.service = service
        self.scheduler = AsyncIOScheduler(timezone=service.settings.timezone)
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.scheduler.add_job(
            self.deliver, "interval", seconds=20, id="outbox", max_instances=1, coalesce=True
        )
        self.scheduler.add_job(
            self.tick,
            "interval",
            minutes=1,
            id="rounds",
            max_instances=1,
            coalesce=True,
            next_run_time=self.service.clock(),
        )
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling and finish (cancel) any job still running, before the database closes."""
        self.scheduler.shutdown(wait=False)
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

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

    async def tick(self) -> None:
        await self._tracked(self._tick)

    async def _tick(self) -> None:
        await self.service.close_due_rounds()
        for team in await self.due_teams():
            try:
                log.info("opening scheduled pulse", extra={"team_id": team.id})
                await self.service.open_round(TeamRef.of(team), scheduled=True)
            except (rounds.RoundError, IntegrityError) as error:
                log.info("scheduled pulse skipped: %s", error)
        await self.service.deliver_outbox()
        await self.service.send_reminders()
        await self.service.warn_low_turnout()

    async def due_teams(self) -> list[Team]:
        now = self.service.clock()
        due = []
        async with self.service.db.session() as session:
            for team in await directory.all_teams(session):
                last = await session.exec(
                    select(func.max(PulseRound.opened_on)).where(PulseRound.team_id == team.id)
                )
                assert team.id is not None
                if await rounds.open_round_for(session, team.id) is not None:
                    continue
                if not await directory.members(session, team.id):
                    continue
                if next_due(team, last.first(), self.service.settings.timezone) <= now:
                    due.append(team)
        return due
