"""The leader's minute tick: which teams are due (``PulseScheduler.due_teams``) against the
per-team loop it replaced (three queries a team: the last round's day, the open round, the
members), on a trust's organisation in a throwaway PostgreSQL database.

The organisation is ``bench/trust_day.py``'s (``--people`` in ``--teams`` wards under
``--directorates``), each ward with one round opened a week ago and closed, so each is due on
the scheduled Monday.  The two are run interleaved (loop, due_teams, loop, …, ``--repeats`` each),
each timed and its SQL statements counted, and must give the same teams.  Not run by any test.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
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


async def per_team_loop(service: TeamPulse) -> list[Team]:
    """``due_teams`` as it was before: three queries per team."""
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
            if next_due(team, last.first(), service.settings.timezone) <= now:
                due.append(team)
    return due


async def measure(args: argparse.Namespace) -> None:
    trust = Trust(args.people, args.teams, args.directorates)
    url, name = await create_database(args.pg_url, "tick_due_teams")
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
        ways = {"per-team loop": lambda: per_team_loop(service), "due_teams": scheduler.due_teams}
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
        assert found["per-team loop"] == found["due_teams"], "different teams"
        print(f"{trust}, load average {os.getloadavg()[0]:.2f}; due: {len(found['due_teams'])}")
        for way in ways:
            ms = sorted(t * 1000 for t in times[way])
            print(
                f"  {way:14} {queries[way]:5} queries  median {statistics.median(ms):8.1f} ms"
                f"  min {ms[0]:8.1f} ms  max {ms[-1]:8.1f} ms"
            )
        await db.dispose()
    finally:
        connection = await asyncpg.connect(plain(args.pg_url))
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def main() -> None:
    parse = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parse.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parse.add_argument("--people", type=int, default=15_000)
    parse.add_argument("--teams", type=int, default=600, help="wards")
    parse.add_argument("--directorates", type=int, default=20)
    parse.add_argument("--repeats", type=int, default=5)
    asyncio.run(measure(parse.parse_args()))


if __name__ == "__main__":
    main()
