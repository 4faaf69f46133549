"""One leader among every process on a database: a PostgreSQL session-level advisory lock.

Each process (every worker of every replica) runs an ``Election``.  It holds one dedicated
autocommit connection out of the pool and tries ``pg_try_advisory_lock`` on it every
``retry_seconds``; the one that gets the lock leads for as long as that connection lives.  A
leader that crashes, is SIGKILLed or loses its network takes its connection, and so its lock,
with it: PostgreSQL frees it when the session ends, and another process's next try takes it.

A leader checks its connection every ``retry_seconds`` (and hears at once when the driver sees it
close).  When it is lost, or a check does not answer in time, the process stops leading *before*
it tries again, so one that was cut off does not go on as a second leader once it is back.  The
window the other way round (PostgreSQL ended the old session, a new leader took over, and the old
one has not noticed yet) is at most ``retry_seconds``; the jobs a leader runs are idempotent
(``docs/architecture.md``), so an overlap costs nothing but work.

The lock uses the two-key form ``(int4, int4)``, a key space apart from the single-key digests of
``storage/claims.py``.  SQLite serves one process, which always leads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.engine import is_sqlite

log = logging.getLogger(__name__)

LOCK_CLASS = 0x7470  # "tp": teampulse's advisory locks in the two-key form
SCHEDULER = 1  # the scheduler's leader
MIGRATIONS = 2  # one `alembic upgrade` at a time (storage/migrations/env.py)
RETRY_SECONDS = 5.0

_TRY = text("SELECT pg_try_advisory_lock(:cls, :key)")
_PING = text("SELECT 1")
# The server, too, finds out within ~25 s that a leader it can no longer reach (a partition: no
# FIN, no RST) is gone, and ends its session, so the lock is freed for another process; the
# leader itself stood down at its first check that got no answer (``retry_seconds``), before.
# Without it the server keeps an idle session for its TCP keepalive default (two hours).
_KEEPALIVE = text(
    "SELECT set_config('tcp_keepalives_idle', '10', false), "
    "set_config('tcp_keepalives_interval', '5', false), "
    "set_config('tcp_keepalives_count', '3', false)"
)

Hook = Callable[[], Awaitable[None]]


class Election:
    """Take part in electing one leader for ``key``: ``run`` calls ``elected`` when this process
    becomes the leader and ``deposed`` when it stops being one (its connection lost), then
    takes part again.  ``leading`` says which it is now."""

    def __init__(
        self, engine: AsyncEngine, *, key: int = SCHEDULER, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self.engine = engine
        self.key = key
        self.retry_seconds = retry_seconds
        self.leading = False
        self.tries = 0  # tries for the lock that found it held elsewhere

    async def run(self, elected: Hook, deposed: Hook) -> None:
        """Forever (until cancelled): stand, lead while the lock is held, stand again."""
        if is_sqlite(str(self.engine.url)):
            await self._lead_alone(elected, deposed)
            return
        away = False  # said once per outage, not at every try
        while True:
            try:
                await self._term(elected, deposed)
            except Exception as error:  # the database is away: try again after the interval
                if not away:
                    log.warning(
                        "scheduler election: database unavailable (%s); trying again every %g s",
                        type(error).__name__,
                        self.retry_seconds,
                    )
                away = True
            else:
                away = False
            await asyncio.sleep(self.retry_seconds)

    async def _lead_alone(self, elected: Hook, deposed: Hook) -> None:
        self.leading = True
        await elected()
        try:
            await asyncio.Event().wait()
        finally:
            await self._step_down(deposed)

    async def _term(self, elected: Hook, deposed: Hook) -> None:
        """One connection's life: try the lock until it is ours, then lead until it is lost."""
        connection = await self.engine.connect()
        try:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            lost = await _on_close(autocommit)
            await autocommit.execute(_KEEPALIVE)
            while not await autocommit.scalar(_TRY, {"cls": LOCK_CLASS, "key": self.key}):
                self.tries += 1
                await asyncio.sleep(self.retry_seconds)
            log.info("this process now leads the scheduler")
            self.leading = True
            try:
                await elected()
                await self._hold(autocommit, lost)
            finally:
                await self._step_down(deposed)
        finally:
            await _discard(connection)

    async def _hold(self, connection: AsyncConnection, lost: asyncio.Event) -> None:
        """Return (or raise) once the connection, and so the lock, is gone."""
        while True:
            try:
                await asyncio.wait_for(lost.wait(), self.retry_seconds)
                return
            except TimeoutError:
                pass
            async with asyncio.timeout(self.retry_seconds):
                await connection.execute(_PING)

    async def _step_down(self, deposed: Hook) -> None:
        if not self.leading:
            return
        self.leading = False
        log.warning("this process no longer leads the scheduler")
        await asyncio.shield(deposed())


async def _on_close(connection: AsyncConnection) -> asyncio.Event:
    """An event set when the driver sees the connection end (asyncpg's termination listener)."""
    lost = asyncio.Event()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    driver.add_termination_listener(lambda *_: lost.set())
    return lost


async def _discard(connection: AsyncConnection) -> None:
    """Give the connection up without putting it back in the pool: a lock it may still hold
    must end with it."""
    try:
        await connection.invalidate()
        await connection.close()
    except Exception:
        log.info("the election's connection was already gone")
