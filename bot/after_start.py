"""Work a server starts in the background once it has answered its first request (a health
check, usually): loading an SDK that starting does not need, so that start-up stays short and the
first request that needs it finds it loaded (``adapters/slack/on_demand.py``,
``adapters/teams/sdk/on_demand.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)


class AfterFirstResponse:
    """Runs ``work`` once, as a task, after the first response; a failure is logged at once
    (``failure`` says what failed) and the first request that needs the work tries again."""

    def __init__(self, work: Callable[[], Awaitable[object]], failure: str) -> None:
        self._work = work
        self._failure = failure
        self._task: asyncio.Task[None] | None = None

    def install(self, app: web.Application) -> None:
        app.on_response_prepare.append(self._start)
        app.on_cleanup.append(self._wait)

    async def _start(self, _request: web.Request, _response: web.StreamResponse) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self._work()
        except Exception:  # (said now, not at shutdown)
            log.exception(self._failure)

    async def _wait(self, _app: web.Application) -> None:
        if self._task is not None:  # (a thread's import can't be cancelled: let it end)
            await self._task
