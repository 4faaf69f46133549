"""One leader among every process on a database: a PostgreSQL session-level advisory lock.

Each process (every worker of every replica) runs an ``Election``.  It holds one dedicated
autocommit connection out of the pool and tries ``pg_try_advisory_lock`` on it every
``retry_seconds``; the one that gets the lock leads for as long as that connection lives.  A
leader that crashes, is SIGKILLed or loses its network takes its connection, and so its lock,
with it: PostgreSQL frees it when the session ends, and another process's next try takes it.

A leader checks its connection every ``retry_seconds`` (and hears at once when the driver sees it
close).  When it is lost, or a check does not answer in time, the process stops leading *before*
it tries again, so one that was cut off does not go on as a second leader once it is back.  "In
time" is ``retry_seconds``, or up to ``ping_limit`` when the process itself was starved (its
event loop stalled: the answer may be there, unread), so a busy leader does not give up a healthy
lock; ``ping_limit`` is under the server's own cut of a silent session, after which another
process could take the lock.  The
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
# A starved process's check may take this long before it stands down: under the server's cut
# of a silent session (``_KEEPALIVE``: ~25 s), so it has stood down before another can lead
PING_LIMIT = 15.0
STARVED = 1.0  # an event loop stalled this long (seconds) was starved, not waiting on the network

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
        self,
        engine: AsyncEngine,
        *,
        key: int = SCHEDULER,
        retry_seconds: float = RETRY_SECONDS,
        ping_limit: float = PING_LIMIT,
        starved_seconds: float = STARVED,
    ) -> None:
        self.engine = engine
        self.key = key
        self.retry_seconds = retry_seconds
        self.ping_limit = max(ping_limit, retry_seconds)
        self.starved_seconds = starved_seconds
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
            await self._ping(connection)

    async def _ping(self, connection: AsyncConnection) -> None:
        """One check that the connection answers; ``TimeoutError`` when it did not in time.

        In time is ``retry_seconds``, unless this process itself was starved meanwhile (its event
        loop stalled ``STARVED`` seconds or more: a busy machine, a long burst of work): then an
        answer may be waiting unread, so the ping is given up to ``ping_limit``, short of the
        ~25 s after which the server ends a silent session and frees the lock for another
        process.  A ping given up on is cancelled, which ends the connection and the lock."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        ping = asyncio.ensure_future(connection.execute(_PING))
        stalls = _Stalls(self.starved_seconds)
        try:
            while True:
                due = loop.time() + self.retry_seconds
                await asyncio.wait({ping}, timeout=self.retry_seconds)
                late = loop.time() - due >= self.starved_seconds  # this wake itself stalled
                await asyncio.sleep(0)  # what the stall left ready (an answer, a beat) runs
                if ping.done():
                    ping.result()
                    return
                starved = late or stalls.starved
                if not starved or loop.time() - started >= self.ping_limit:
                    raise TimeoutError("the leader's connection did not answer")
                log.info("the leader's check is slow while this process is starved; waiting on")
        finally:
            stalls.stop()
            ping.cancel()

    async def _step_down(self, deposed: Hook) -> None:
        if not self.leading:
            return
        self.leading = False
        log.warning("this process no longer leads the scheduler")
        await asyncio.shield(deposed())


class _Stalls:
    """Whether the event loop stalled ``threshold`` seconds or more since this was made (a
    heartbeat every tenth of a second that measures how late it wakes)."""

    BEAT = 0.1

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.starved = False
        self._beat = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.BEAT)
            if loop.time() - before - self.BEAT >= self.threshold:
                self.starved = True

    def stop(self) -> None:
        self._beat.cancel()


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
