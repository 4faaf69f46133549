"""The pulse form's submission, answered by the gate without Bolt's dispatch (one workspace over
HTTP): the reply goes as soon as the answer is committed, with no 10 ms poll and no 3-second
cut-off.  Kept on measurement (docs/performance.md, "Fast path, re-measured")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

PLAIN_HEADERS = {"content-type": ["text/plain;charset=utf-8"]}  # a bare ack's (Bolt 1.x)
Listener = Callable[[AsyncAck, dict[str, Any], dict[str, Any], AsyncWebClient], Awaitable[None]]


class WakingAck(AsyncAck):
    """Bolt's ``ack`` that also wakes the request waiting for it (``woken``)."""

    def __init__(self, woken: asyncio.Future[None]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.woken = woken

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await super().__call__(*args, **kwargs)
        _wake(self.woken)
        return response


def _wake(woken: asyncio.Future[None], *_: object) -> None:
    if not woken.done():  # (a request cancelled meanwhile has cancelled it)
        woken.set_result(None)


def _plain(response: BoltResponse) -> bool:
    """A bare ``ack()``: 200, no body, Bolt's one header."""
    return response.status == 200 and not response.body and response.headers == PLAIN_HEADERS


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
        """The listener runs in a task of its own (the receipt runs on after the reply); the
        reply goes once it acks, or once it ends without an ack, whichever wakes ``woken`` first
        (one future: ``asyncio.wait`` over the task and an event's waiter cost more, see
        docs/performance.md, "CPU per answer")."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ack = WakingAck(woken)
        task = asyncio.ensure_future(self.listener(ack, payload, payload["view"], self.client))
        self._running.add(task)
        task.add_done_callback(self._done)
        task.add_done_callback(partial(_wake, woken))
        await woken
        if ack.response is None:  # the listener ended (or failed) without an ack
            return web.json_response({"error": "the pulse could not be recorded"}, status=500)
        if _plain(ack.response):
            return web.Response(content_type="text/plain")  # (as Bolt's adapter answers it)
        return await to_aiohttp_response(ack.response)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pulse submission failed", exc_info=task.exception())
