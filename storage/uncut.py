"""Work a cancelled caller stops waiting for, without cutting it.

A statement cancelled in flight leaves its connection in an unknown state (SQLAlchemy then
invalidates it, and a session's advisory locks end with it), and a flush cut between its
``COMMIT`` and its bookkeeping would be done twice.  ``uncut`` runs such work as a task of its
own: the caller may be cancelled and stop waiting, the work runs to its end.  ``retrieve`` takes
the outcome of a task nobody waits for any more, so asyncio logs no "exception never retrieved"
(a failure there has been logged, or is expected: a dead connection's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def retrieve(task: asyncio.Future[Any]) -> None:
    """Take a finished task's outcome, which nobody waits for any more."""
    if not task.cancelled():
        task.exception()


async def uncut(work: Awaitable[T], on_cancel: Callable[[asyncio.Task[T]], None] = retrieve) -> T:
    """``work``'s result, the work run to its end even if this caller is cancelled (then
    ``on_cancel`` gets the task once it has finished)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(on_cancel)
        raise
