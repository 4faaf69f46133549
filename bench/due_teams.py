"""The leader's minute tick: which teams are due (``PulseScheduler.due_teams``) against what it
replaced, on a trust's organisation in a throwaway PostgreSQL database.  Three ways, each a
yardstick for the next:

* the per-team loop (three queries a team: the last round's day, the open round, the members),
  each team's cron trigger built afresh;
* ``due_teams`` as it was before the triggers were kept: four queries, a trigger built per team
  (``uncached_next_due``, the old ``next_due``);
* ``due_teams``: four queries, the trigger of each schedule kept (``bot/scheduler._trigger``).

The organisation is ``bench/trust_day.py``'s (``--people`` in ``--teams`` wards under
``--directorates``), each ward with one round opened a week ago and closed, so each is due on
the scheduled Monday.  The ways are run interleaved (``--repeats`` rounds of each in turn), each
timed and its SQL statements counted, and must give the same teams.  Not run by any test.
Usage::

    .venv/bin/python bench/due_teams.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from apscheduler.triggers.cron import CronTrigger  # noqa: E402
from sqlalchemy import event, func  # noqa: E402
from sqlmodel import select  # noqa: E402
from trust_day_setup import BENCH_SECRET, Trust, create_database, plain, prepare  # noqa: E402

from bot.scheduler import PulseScheduler, next_due  # noqa: E402
from bot.service import TeamPulse  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.models import PulseRound, Team  # noqa: E402
from surveys import directory, rounds  # noqa: E402

ROUNDS = """
INSERT INTO pulse_round (team_id, sequence, opened_on, closes_on, closed, reminded,
                         turnout_warned, plan)
SELECT id, 1, current_date - 7, current_date - 2, true, true, true, '[]'
FROM team WHERE name LIKE 'Ward %'
"""


def uncached_next_due(team: Team, last_opened: date | None, default_tz: str) -> datetime:
    """``next_due`` as it was: the team's ``CronTrigger`` built on every call."""
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
        start = datetime.combine(month_end.replace(day=1), clock_time(), tzinfo=tz)
    else:
        gap = 13 if team.cadence == "fortnightly" else 1
        start = datetime.combine(last_opened + timedelta(days=gap), clock_time(), tzinfo=tz)
    fire: datetime | None = trigger.get_next_fire_time(None, start)
    assert fire is not None
    return fire


async def per_team_loop(service: TeamPulse) -> list[Team]:
    """``due_teams`` as it was first: three queries per team, a trigger per team."""
    now = service.clock()
    due = []
    async with service.db.session() as session:
        for team in await directory.all_teams(session):
            last = await session.exec(
                select(func.max(PulseRound.opened_on)).where(PulseRound.team_id == team.id)
            )
            assert team.id is not None
            if await rounds.open_round_for(session, team.id) is not None:
                continue
            if not await directory.members(session, team.id):
                continue
            if uncached_next_due(team, last.first(), service.settings.timezone) <= now:
                due.append(team)
    return due


async def uncached_due_teams(service: TeamPulse) -> list[Team]:
    """``due_teams`` as it was before the triggers were kept: four queries, a trigger per team."""
    now, default_tz = service.clock(), service.settings.timezone
    async with service.db.session() as session:
        teams = await directory.all_teams(session)
        last_opened = await rounds.last_opened_by_team(session)
        busy = await rounds.teams_with_open_round(session)
        staffed = await directory.teams_with_members(session)
    return [
        team
        for team in teams
        if team.id not in busy
        and team.id in staffed
        and uncached_next_due(team, last_opened.get(team.id or 0), default_tz) <= now
    ]


async def time_next_due(service: TeamPulse, repeats: int) -> None:
    """The Python part alone: every team's next due time, a trigger built per team against
    ``next_due`` (the trigger of each schedule kept), interleaved."""
    default_tz = service.settings.timezone
    async with service.db.session() as session:
        teams = await directory.all_teams(session)
        last_opened = await rounds.last_opened_by_team(session)
    ways = {"a trigger per team": uncached_next_due, "next_due (kept)": next_due}
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        for way, due in ways.items():
            started = time.perf_counter()
            for team in teams:
                due(team, last_opened.get(team.id or 0), default_tz)
            times[way].append(time.perf_counter() - started)
    print(f"  the next due time of {len(teams)} teams, Python only:")
    for way in ways:
        ms = sorted(t * 1000 for t in times[way])
        print(
            f"  {way:30}        median {statistics.median(ms):8.1f} ms"
            f"  min {ms[0]:8.1f} ms  max {ms[-1]:8.1f} ms"
        )


async def measure(args: argparse.Namespace) -> None:
    trust = Trust(args.people, args.teams, args.directorates)
    url, name = await create_database(args.pg_url, args.db_prefix)
    try:
        await prepare(url, trust)
        connection = await asyncpg.connect(plain(url))
        await connection.execute(ROUNDS)
        await connection.execute("ANALYZE")
        await connection.close()
        db = Database(url)
        settings = Settings(_env_file=None, DATABASE_URL=url, TEAMPULSE_SECRET=BENCH_SECRET)  # type: ignore[call-arg]
        service = TeamPulse(db, settings)
        scheduler = PulseScheduler(service)
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        ways = {
            "per-team loop": lambda: per_team_loop(service),
            "due_teams, a trigger per team": lambda: uncached_due_teams(service),
            "due_teams": scheduler.due_teams,
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        queries: dict[str, int] = {}
        found: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for way, run in ways.items():
                statements[0] = 0
                started = time.perf_counter()
                due = await run()
                times[way].append(time.perf_counter() - started)
                queries[way] = statements[0]
                found[way] = [team.name for team in due]
        assert all(teams == found["due_teams"] for teams in found.values()), "different teams"
        print(f"{trust}, load average {os.getloadavg()[0]:.2f}; due: {len(found['due_teams'])}")
        for way in ways:
            ms = sorted(t * 1000 for t in times[way])
            print(
                f"  {way:30} {queries[way]:5} queries  median {statistics.median(ms):8.1f} ms"
                f"  min {ms[0]:8.1f} ms  max {ms[-1]:8.1f} ms"
            )
        await time_next_due(service, args.repeats)
        await db.dispose()
    finally:
        connection = await asyncpg.connect(plain(args.pg_url))
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def main() -> None:
    parse = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parse.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parse.add_argument("--db-prefix", default="tick_due_teams", help="of the throwaway database")
    parse.add_argument("--people", type=int, default=15_000)
    parse.add_argument("--teams", type=int, default=600, help="wards")
    parse.add_argument("--directorates", type=int, default=20)
    parse.add_argument("--repeats", type=int, default=5)
    asyncio.run(measure(parse.parse_args()))


if __name__ == "__main__":
    main()
