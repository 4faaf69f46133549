"""Waking the outbox's sender across replicas: PostgreSQL ``LISTEN`` on the channel that the
transactions queueing rows ``NOTIFY`` (``surveys/outbox.notify``).  SQLite has one process's
writers only, so the in-process signal (``TeamPulse.wake_outbox``) is all it needs.

The listening connection is held out of the pool.  When it ends (the database restarted, the
network dropped it) it is opened again every ``RETRY_SECONDS`` until the database is back, and the
sender is woken then: rows queued meanwhile were announced to no one.  Until then the sender's
poll is the backstop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import Database, is_sqlite
from surveys.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0


async def listen(
    db: Database, wake: Callable[[], None], retry_seconds: float = RETRY_SECONDS
) -> Callable[[], Awaitable[None]]:
    """Call ``wake`` on every notification; returns the function that stops listening."""
    if is_sqlite(db.url):
        return _nothing
    listener = _Listener(db, wake, retry_seconds)
    await listener.open()
    listener.start()
    return listener.stop


class _Listener:
    def __init__(self, db: Database, wake: Callable[[], None], retry_seconds: float) -> None:
        self.db = db
        self.wake = wake
        self.retry_seconds = retry_seconds
        self.lost = asyncio.Event()
        self._connection: AsyncConnection | None = None
        self._driver: Any = None
        self._task: asyncio.Task[None] | None = None

    def _notified(self, *_args: object) -> None:
        self.wake()

    async def open(self) -> None:
        connection = await self.db.engine.connect()
        try:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            self.lost.clear()
            driver.add_termination_listener(lambda *_: self.lost.set())
            await driver.add_listener(NOTIFY_CHANNEL, self._notified)
        except BaseException:
            await _discard(connection)
            raise
        self._connection, self._driver = connection, driver

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep())

    async def _keep(self) -> None:
        """Forever: wait for the connection to end, then listen again once the database is
        back, and wake the sender."""
        while True:
            await self.lost.wait()
            log.warning("the outbox's wake-up listener lost its connection; listening again")
            await self._close()
            while True:
                await asyncio.sleep(self.retry_seconds)
                try:
                    await self.open()
                    break
                except Exception as error:
                    log.debug("the outbox's listener: still no database (%s)", error)
            log.info("the outbox's wake-up listener is listening again")
            self.wake()

    async def _close(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            await _discard(connection)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._driver is not None:
            try:
                await self._driver.remove_listener(NOTIFY_CHANNEL, self._notified)
            except Exception:  # the connection is going anyway
                log.info("the outbox listener's connection was already closed")
        await self._close()


async def _discard(connection: AsyncConnection) -> None:
    """Close a connection that may already be dead (it never goes back to the pool)."""
    try:
        if connection.closed:
            return
        if connection.invalidated:
            await connection.close()
            return
        await connection.invalidate()
        await connection.close()
    except Exception:
        log.info("the outbox listener's connection was already gone")


async def _nothing() -> None:
    return None
