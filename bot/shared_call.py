"""One call in flight at a time, its result shared by every caller that arrives meanwhile.

For what anyone may ask for without signing in (``/readyz``, ``/metrics``): a flood of them runs
one database query at a time per process, not one per request, so it can't crowd SQLite's single
writer lock (every transaction there begins ``IMMEDIATE``) away from the requests that matter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedCall(Generic[T]):
    def __init__(self, call: Callable[[], Awaitable[T]]) -> None:
        self.call = call
        self._running: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self.call())
        # shielded: one caller giving up (a probe's timeout) doesn't cancel the others' answer
        return await asyncio.shield(self._running)
