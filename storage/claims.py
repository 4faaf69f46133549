"""Claims on pending participation digests, shared by every process on one PostgreSQL database.

A process that has accepted someone's answer holds their digest pending in memory until it is
flushed (``surveys/participation.py``).  Meanwhile another process (``TEAMPULSE_WORKERS``, a
replica) must refuse a second answer from the same person.  Each pending digest is therefore held
as a session-level advisory lock (``pg_try_advisory_lock``) on one long-lived connection of this
process: a failed try means another process holds it.  Advisory locks live in the server's shared
memory: nothing is written to a table, to ``pg_wal`` or to its archive.  A live observer of
``pg_locks`` who has the secret can see whose answers are pending right now; a copy of the files
shows nothing of them.

The connection runs in autocommit (no transaction held open, so vacuum is never held back).  If it
drops, its locks are gone: the next claim opens a new connection and takes them again.  Meanwhile
another process may have admitted (and even written) a second answer from one of those people, so
a drop while claims were held counts as a loss (``losses``), whatever the retaking finds: the
ledger then keeps the rounds' reservations (``surveys/participation.py``).

Only a connection that really ended is a loss.  A caller cancelled mid-statement (a leader's tick
cancelled as it steps down, a person's wait given up on) does not cut the statement: SQLAlchemy
would invalidate a connection cut that way, and its session's locks would go with it on a busy
but healthy process.  The loss's log line names the error's type (the cause), never a digest.

SQLite serves one process (``TEAMPULSE_WORKERS`` refuses it), so its claims are the process's
memory alone (``LocalClaims``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.uncut import uncut

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRY = text("SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k WHERE pg_try_advisory_lock(k)")
_UNLOCK = text("SELECT pg_advisory_unlock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")
_HELD = text(
    "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
    "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def lock_key(digest: str) -> int:
    """The advisory lock key of a digest: its first 64 bits, as PostgreSQL's signed bigint."""
    value = int(digest[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(key: int) -> int:
    return key & 0xFFFFFFFFFFFFFFFF


class Claims(Protocol):
    async def claim(self, digests: Sequence[str]) -> set[str]:
        """Claim these digests; returns those claimed (the others are held elsewhere)."""
        ...

    async def release(self, digests: Iterable[str]) -> None: ...

    @property
    def losses(self) -> int:
        """How many times claims were lost with a dropped connection (only ever grows)."""
        ...

    async def check(self) -> None:
        """Find out now whether the claims held are still held (counted in ``losses``)."""
        ...

    async def held_elsewhere(self, session: AsyncSession, digests: Iterable[str]) -> set[str]:
        """Those of these digests that some process holds (this one's included)."""
        ...

    async def close(self) -> None: ...


class LocalClaims:
    """One process: its ledger is the whole truth."""

    async def claim(self, digests: Sequence[str]) -> set[str]:
        return set(digests)

    async def release(self, digests: Iterable[str]) -> None:
        return None

    @property
    def losses(self) -> int:
        return 0

    async def check(self) -> None:
        return None

    async def held_elsewhere(self, session: AsyncSession, digests: Iterable[str]) -> set[str]:
        return set()

    async def close(self) -> None:
        return None


class AdvisoryClaims:
    """Session-level advisory locks on one dedicated autocommit connection.

    Each operation on the connection runs in a task of its own, one at a time (``_serial``), and
    a caller that is cancelled (a person's wait given up on, a leader stepping down mid-tick)
    stops waiting for it but does not cut it: a statement cancelled in flight leaves the
    connection in an unknown state, so SQLAlchemy invalidates it and its session, and every
    claim with it, would end on the server although nothing was wrong with the database.  Claims
    taken for a caller cancelled meanwhile are let go once taken (no one is admitted for them).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None
        self._held: set[str] = set()
        self._losses = 0
        self._serial = asyncio.Lock()
        self._orphans: set[asyncio.Task[None]] = set()  # releases for cancelled callers
        self._closed = False

    @property
    def losses(self) -> int:
        return self._losses

    async def _ready(self) -> AsyncConnection:
        if self._closed:
            raise RuntimeError("the claims were closed")
        if self._connection is not None and not self._connection.closed:
            return self._connection
        connection = await self.engine.connect()
        self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        if self._held:  # a dropped connection took its locks with it: take them again
            self._held = await self._try(self._connection, sorted(self._held))
        return self._connection

    async def _try(self, connection: AsyncConnection, digests: Sequence[str]) -> set[str]:
        keys = {lock_key(digest): digest for digest in digests}
        result = await connection.execute(_TRY, {"keys": list(keys)})
        return {keys[key] for key in result.scalars()}

    async def _uncut(self, work: Coroutine[Any, Any, T]) -> T:
        """``work``, one at a time, run to its end whatever happens to the caller (the class)."""
        return await uncut(self._one_at_a_time(work))

    async def _one_at_a_time(self, work: Coroutine[Any, Any, T]) -> T:
        async with self._serial:
            return await work

    async def claim(self, digests: Sequence[str]) -> set[str]:
        if not digests:
            return set()
        return await uncut(self._one_at_a_time(self._claim(digests)), self._let_go)

    async def _claim(self, digests: Sequence[str]) -> set[str]:
        try:
            taken = await self._try(await self._ready(), digests)
        except Exception as error:
            await self._lose(error)
            taken = await self._try(await self._ready(), digests)
        self._held |= taken
        return taken

    def _let_go(self, task: asyncio.Task[set[str]]) -> None:
        """A claim whose caller was cancelled: what it took is released (nobody was admitted)."""
        if task.cancelled() or task.exception() is not None or not task.result():
            return
        release = asyncio.ensure_future(self.release(task.result()))
        self._orphans.add(release)
        release.add_done_callback(self._orphans.discard)

    async def release(self, digests: Iterable[str]) -> None:
        mine = [digest for digest in digests if digest in self._held]
        if mine:
            await self._uncut(self._release(mine))

    async def _release(self, mine: list[str]) -> None:
        self._held -= set(mine)
        try:
            connection = await self._ready()
            await connection.execute(_UNLOCK, {"keys": [lock_key(d) for d in mine]})
        except Exception as error:  # the connection is gone, and its locks with it
            log.warning("could not release %d claims; dropping their connection", len(mine))
            self._held |= set(mine)  # they were lost too, before this release
            await self._lose(error)
            self._held -= set(mine)

    async def check(self) -> None:
        if self._held:
            await self._uncut(self._check())

    async def _check(self) -> None:
        try:
            await (await self._ready()).execute(text("SELECT 1"))
        except Exception as error:
            await self._lose(error)
            try:
                await self._ready()  # take them again now, so others refuse those people
            except Exception:
                log.warning("could not reconnect the claims connection; will try again")

    async def _lose(self, error: Exception) -> None:
        """The connection is gone: if it held claims, they were lost (``losses``).  The line
        names the error's type (the cause), never a digest."""
        if self._held:
            self._losses += 1
            log.warning(
                "%d pending claims were lost with a connection (%s)",
                len(self._held),
                type(error).__name__,
            )
        await self._drop()

    async def held_elsewhere(self, session: AsyncSession, digests: Iterable[str]) -> set[str]:
        wanted = {_unsigned(lock_key(digest)): digest for digest in digests}
        if not wanted:
            return set()
        connection = await session.connection()
        held = {_unsigned(key) for key in (await connection.execute(_HELD)).scalars()}
        return {digest for key, digest in wanted.items() if key in held}

    async def _drop(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.invalidate()  # the session, and its locks, end
                await self._connection.close()
            except Exception:
                log.debug("the claims connection was already gone")
        self._connection = None

    async def close(self) -> None:
        """Release every claim: the connection is closed for good, not returned to the pool (a
        pooled session would keep its locks)."""
        self._closed = True
        self._held = set()
        await self._drop()
