"""Async engine and sessions for SQLite (WAL, foreign keys on) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import errno
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def on_postgresql(session: AsyncSession) -> bool:
    """Whether ``session`` runs on PostgreSQL (else SQLite): for the statements the two
    databases are asked differently (arrays, advisory locks, ``NOTIFY``, upserts)."""
    bind = session.bind or session.get_bind()  # (the engine it was made with: an attribute)
    return bind.dialect.name == "postgresql"


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the driver, begin transactions, so they can begin IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# SQLite's JSON functions, which a directorate's or trust's report reads its places through
# (``json_each``: surveys/comment_picks.py); built into SQLite since 3.38, and an option before
JSON_PROBE = "SELECT count(*) FROM json_each('[1, 2]')"


def sqlite_lacks_json(connection: sqlite3.Connection | None = None) -> bool:
    """Whether the SQLite this Python links to can't run ``json_each`` (on ``connection``, or
    a fresh in-memory database: no file is opened)."""
    probe = connection or sqlite3.connect(":memory:")
    try:
        return bool(probe.execute(JSON_PROBE).fetchone() != (2,))
    except sqlite3.DatabaseError:
        return True
    finally:
        if connection is None:
            probe.close()


READ_ONLY = "teampulse_read_only"  # execution option of ``Database.reading``'s sessions


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock at BEGIN: a read-then-write transaction (check "already
    answered", then insert) can never interleave with another writer.  A session that only
    reads (``Database.reading``) begins DEFERRED instead: a snapshot of the database, taken at
    its first read, that holds no lock a writer waits for (WAL)."""
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


# PostgreSQL connections one process may hold (``TEAMPULSE_DB_POOL_SIZE`` and
# ``TEAMPULSE_DB_MAX_OVERFLOW``; docs/deploy.md, "Sizing the database pool"): the pool keeps up to
# POOL_SIZE open, and opens up to MAX_OVERFLOW more under a burst (each closed when handed back).
# HELD_CONNECTIONS of the pool are taken for the process's life: the scheduler election's, the
# outbox listener's and the participation claims' (storage/leader.py, bot/wake.py,
# storage/claims.py).  Sessions share the rest; none is held across a platform call.
POOL_SIZE = 10
MAX_OVERFLOW = 5
HELD_CONNECTIONS = 3
MIN_POOL_SIZE = HELD_CONNECTIONS + 1


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # a failed statement's error message leaves out its parameters (an email, a comment): errors
    # are logged, and a log never puts a person beside an answer
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", MAX_OVERFLOW)
    kwargs.setdefault("pool_recycle", POOL_RECYCLE)
    # the most recently used connection first: a few warm connections serve the short sessions,
    # their prepared statements cached, and the rest of the pool idles
    kwargs.setdefault("pool_use_lifo", True)
    # a server that takes no connection (a partition, a host gone) is given up on in seconds,
    # not asyncpg's default minute: a person is told to try again, not left waiting
    kwargs.setdefault("connect_args", {}).setdefault("timeout", CONNECT_TIMEOUT)
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "checkout", _closed_connection)
    return engine


def pool_options(url: str, size: int, overflow: int) -> dict[str, Any]:
    """Engine arguments for a pool of ``size`` connections plus ``overflow``; none for SQLite,
    whose connections are files, not server processes."""
    return {} if is_sqlite(url) else {"pool_size": size, "max_overflow": overflow}


async def connection_limit(engine: AsyncEngine) -> int | None:
    """How many connections PostgreSQL lets ordinary roles open at once: ``max_connections``
    less the slots it keeps for superusers (and, from version 16, ``reserved_connections``);
    None on SQLite."""
    if is_sqlite(str(engine.url)):
        return None
    async with engine.connect() as connection:
        row = (
            await connection.exec_driver_sql(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - coalesce(current_setting('reserved_connections', true), '0')::int"
            )
        ).scalar_one()
    return int(row)


POOL_RECYCLE = 1800  # seconds: a connection idle behind a firewall's cut is replaced in time
CONNECT_TIMEOUT = 5.0  # seconds to open a PostgreSQL connection before it counts as unreachable


def _closed_connection(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """A pooled connection the server already closed (a restart, an idle cut it announced) is
    replaced at checkout, with no round trip: the driver saw the socket close.

    This stands in for ``pool_pre_ping``, which costs three round trips (``BEGIN``, ``;``,
    ``ROLLBACK``) on every session, a large share of a short session's work.  A connection that
    died silently is found by the statement that uses it: SQLAlchemy invalidates it and every
    older pooled connection, and the caller may run its unit of work again (``dropped``)."""
    driver = getattr(dbapi_connection, "_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if callable(is_closed) and is_closed():
        raise DisconnectionError("the database closed this connection")


def dropped(error: BaseException) -> bool:
    """Whether ``error`` is a statement failing on a connection that had died: the pool has
    dropped it (and the connections older than it), so a new try takes a fresh one."""
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or did not answer (a refused
    or dropped connection, a server shutting down or starting up, a connection or pool wait that
    ran out, SQLite's file locked past its busy timeout), as against a fault in the statement or
    the data.  Nothing was done by the unit of work that failed so, except that a ``COMMIT`` cut
    off in flight may have landed: callers say "not saved, try again", never "saved"."""
    seen: BaseException | None = error
    for _ in range(4):  # the error, the driver's error it wraps, and what that was raised from
        if seen is None:
            return False
        if _gone(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _gone(error: BaseException) -> bool:
    if isinstance(error, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    # refused, reset or unreachable; a name that doesn't resolve; a wait that timed out;
    # asyncpg's connection errors.  Not any OSError: a PermissionError (botbuilder's refused
    # token) or a missing file says nothing about the database.
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror, *_asyncpg_gone())):
        return True
    return isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS


# the errors a socket to an unreachable database gives that are not ``ConnectionError``s
_NETWORK_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ETIMEDOUT}
)


def _asyncpg_gone() -> tuple[type[BaseException], ...]:
    """asyncpg's own errors that say the database is gone, as raised outside SQLAlchemy's
    wrapping (a connection being opened); none while asyncpg is not imported (on SQLite: its
    import, about 30 ms of a server's start-up, is left to PostgreSQL's first connection)."""
    errors = sys.modules.get("asyncpg.exceptions")
    if errors is None:  # (then no error of asyncpg's exists to be told apart)
        return ()
    return (
        errors.PostgresConnectionError,  # refused, dropped, "connection does not exist"
        errors.InterfaceError,  # "connection is closed"
        errors.CannotConnectNowError,  # 57P03: the server is starting up
        errors.AdminShutdownError,  # 57P01: the server is shutting down
        errors.CrashShutdownError,
    )


class Database:
    """The engine plus a session factory; one per process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._readers = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}),
            class_=AsyncSession,
            expire_on_commit=False,
        )
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def on_dispose(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run ``close`` before the engine goes (a connection held outside the pool)."""
        self._closers.append(close)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for work that only reads (a report; the first half of a week's cut).  On
        SQLite it takes no write lock, so answers are not held up behind it, and it reads one
        snapshot throughout; don't write in it (SQLite refuses to upgrade a snapshot that
        another writer has moved past).  On PostgreSQL it is an ordinary session."""
        async with self._readers() as session:
            yield session

    async def dispose(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            await close()
        await self.engine.dispose()
