"""The pulse form's submission, answered by the gate without Bolt's dispatch (one workspace over
HTTP): the reply goes as soon as the answer is committed, with no 10 ms poll and no 3-second
cut-off.  Kept on measurement (docs/performance.md, "Fast path, re-measured")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

Listener = Callable[[AsyncAck, dict[str, Any], dict[str, Any], AsyncWebClient], Awaitable[None]]


class WakingAck(AsyncAck):
    """Bolt's ``ack`` that also sets an event when called."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.called = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await super().__call__(*args, **kwargs)
        self.called.set()
        return response


class FastSubmit:
    def __init__(self, callback_id: str, listener: Listener, client: AsyncWebClient) -> None:
        self.callback_id = callback_id
        self.listener = listener
        self.client = client
        self._running: set[asyncio.Task[None]] = set()

    def takes(self, payload: dict[str, Any]) -> bool:
        view = payload.get("view")
        return (
            payload.get("type") == "view_submission"
            and isinstance(view, dict)
            and view.get("callback_id") == self.callback_id
        )

    async def handle(self, payload: dict[str, Any]) -> web.Response:
        ack = WakingAck()
        task = asyncio.ensure_future(self.listener(ack, payload, payload["view"], self.client))
        self._running.add(task)  # the receipt runs on after the reply
        task.add_done_callback(self._done)
        woken = asyncio.ensure_future(ack.called.wait())
        await asyncio.wait({task, woken}, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        if ack.response is None:  # the listener ended (or failed) without an ack
            return web.json_response({"error": "the pulse could not be recorded"}, status=500)
        return await to_aiohttp_response(ack.response)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pulse submission failed", exc_info=task.exception())
