"""One scheduler leader across processes (``storage/leader.py``), on real PostgreSQL: exactly one
of several leads; when the leader's connection is cut, or its process is SIGKILLed, another takes
over within a bound, and the one cut off stops running the scheduler's tick."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from storage.leader import LOCK_CLASS, SCHEDULER, Election
from tests.conftest import BACKENDS
from tests.databases import _asyncpg_dsn

POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]
RETRY = 0.1  # seconds between tries for the lock (production: 5)
TAKEOVER = 15.0  # the bound on a takeover, far above RETRY to stay clear of a loaded machine
REPO = Path(__file__).resolve().parent.parent


async def until(condition: Callable[[], bool], within: float = TAKEOVER) -> None:
    """Wait for ``condition`` to hold, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.02)  # re-checking a condition, not timing a result


class Candidate:
    """An election in its own ``Database`` (its own connections), as a separate process has."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.election = Election(self.db.engine, retry_seconds=RETRY)
        self.terms = 0  # times elected
        self.stepped_down = 0
        self.task: asyncio.Task[None] | None = None

    async def _elected(self) -> None:
        self.terms += 1

    async def _deposed(self) -> None:
        self.stepped_down += 1

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self.election.run(self._elected, self._deposed)
        )

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.db.dispose()


@asynccontextmanager
async def candidates(url: str, count: int) -> AsyncIterator[list[Candidate]]:
    group = [Candidate(url) for _ in range(count)]
    for candidate in group:
        candidate.start()
    try:
        yield group
    finally:
        for candidate in group:
            await candidate.stop()


async def leader_pids(url: str) -> list[int]:
    """The server processes (sessions) holding the scheduler's lock on ``url``'s database, as
    ``pg_locks`` shows them (it lists every database's: another database's leader, another test
    run's, is not this one's)."""
    admin = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        rows = await admin.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = $1 AND objid = $2 AND objsubid = 2",
            LOCK_CLASS,
            SCHEDULER,
        )
        return [row["pid"] for row in rows]
    finally:
        await admin.close()


async def cut(url: str, pid: int) -> None:
    """End a session from the server's side, as a network cut or a restarted pooler would."""
    admin = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


def leaders(group: list[Candidate]) -> list[Candidate]:
    return [candidate for candidate in group if candidate.election.leading]


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_exactly_one_of_three_leads_and_another_takes_over_when_its_connection_is_cut(
    database_url: str,
) -> None:
    async with candidates(database_url, 3) as group:
        await until(lambda: len(leaders(group)) == 1)
        [first] = leaders(group)
        others = [candidate for candidate in group if candidate is not first]
        # the others have tried and found the lock taken, more than once: still one leader
        await until(lambda: all(candidate.election.tries >= 3 for candidate in others))
        assert leaders(group) == [first]
        [pid] = await leader_pids(database_url)

        await cut(database_url, pid)
        await until(lambda: first.stepped_down == 1)  # it stops leading once its link is gone
        await until(lambda: len(leaders(group)) == 1 and not first.election.leading)
        [second] = leaders(group)
        assert second is not first and second.terms == 1
        assert len(await leader_pids(database_url)) == 1
        # the one cut off stands again, as a follower
        tries = first.election.tries
        await until(lambda: first.election.tries > tries)
        assert leaders(group) == [second]


ELECTOR = """
import asyncio, sys
from storage.engine import Database
from storage.leader import Election

async def main() -> None:
    db = Database(sys.argv[1])
    async def elected() -> None:
        print("leading", flush=True)
    async def deposed() -> None:
        print("deposed", flush=True)
    await Election(db.engine, retry_seconds=0.1).run(elected, deposed)

asyncio.run(main())
"""


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_a_sigkilled_leader_process_frees_the_lock_and_another_process_leads(
    database_url: str,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", ELECTOR, database_url], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    try:
        assert process.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)
        assert line == b"leading\n"
        async with candidates(database_url, 1) as [here]:
            await until(lambda: here.election.tries >= 3)
            assert not here.election.leading  # the other process leads
            os.kill(process.pid, signal.SIGKILL)  # no goodbye: PostgreSQL ends its session
            await until(lambda: here.election.leading)
            assert len(await leader_pids(database_url)) == 1
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_only_the_leaders_scheduler_ticks_and_a_deposed_one_stops(settings: Settings) -> None:
    services = [TeamPulse(Database(settings.database_url), settings) for _ in range(2)]
    schedulers = [
        PulseScheduler(service, election=Election(service.db.engine, retry_seconds=RETRY))
        for service in services
    ]
    for scheduler in schedulers:
        await scheduler.start()

    def ticking() -> list[PulseScheduler]:
        return [s for s in schedulers if s.scheduler.get_job("rounds") is not None]

    try:
        await until(lambda: len(ticking()) == 1)
        [first] = ticking()
        [other] = [s for s in schedulers if s is not first]
        await until(lambda: other.election.tries >= 3)
        assert ticking() == [first]
        [pid] = await leader_pids(settings.database_url)
        await cut(settings.database_url, pid)
        await until(lambda: ticking() == [other])
        assert not first.leading and other.leading
    finally:
        for scheduler, service in zip(schedulers, services, strict=True):
            await scheduler.stop()
            await service.db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_on_sqlite_the_one_process_leads_at_once(settings: Settings) -> None:
    service = TeamPulse(Database(settings.database_url), settings)
    scheduler = PulseScheduler(service)
    await scheduler.start()
    try:
        await until(lambda: scheduler.scheduler.get_job("rounds") is not None)
        assert scheduler.leading
    finally:
        await scheduler.stop()
        await service.db.dispose()
    assert not scheduler.leading
