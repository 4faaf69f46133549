"""Waking the outbox's sender across replicas: PostgreSQL ``LISTEN`` on the channel that the
transactions queueing rows ``NOTIFY`` (``surveys/outbox.notify``).  SQLite has one process's
writers only, so the in-process signal (``TeamPulse.wake_outbox``) is all it needs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from storage.engine import Database, is_sqlite
from surveys.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


async def listen(db: Database, wake: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """Call ``wake`` on every notification; returns the function that stops listening.  The
    connection is held out of the pool until then."""
    if is_sqlite(db.url):
        return _nothing
    connection = await db.engine.connect()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection

    def on_notify(*_args: object) -> None:
        wake()

    await driver.add_listener(NOTIFY_CHANNEL, on_notify)

    async def stop() -> None:
        try:
            await driver.remove_listener(NOTIFY_CHANNEL, on_notify)
        except Exception:  # the connection is going anyway
            log.info("the outbox listener's connection was already closed")
        await connection.close()

    return stop


async def _nothing() -> None:
    return None
