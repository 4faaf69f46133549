"""The pulse form's submission, answered by the gate without Bolt's dispatch (one workspace over
HTTP): the reply goes as soon as the answer is committed, with no 10 ms poll and no 3-second
cut-off.  Kept on measurement (docs/performance.md, "Fast path, re-measured").

The answer is found in the request's own task (the listener's ``answer_pulse``: the person's
email, the card's commit), and only what comes after the reply (the receipt) runs as a task of
its own: no listener task and no future to hand the ack over (docs/performance.md, "Fewer tasks
per answer")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# the ack's arguments ({}: a bare ``ack()``), and what to do after the reply, if anything
Answered = tuple[dict[str, Any], Callable[[], Awaitable[None]] | None]
Answer = Callable[[dict[str, Any], dict[str, Any], AsyncWebClient], Awaitable[Answered]]
FAILED = {"error": "the pulse could not be recorded"}


class FastSubmit:
    def __init__(self, callback_id: str, answer: Answer, client: AsyncWebClient) -> None:
        self.callback_id = callback_id
        self.answer = answer
        self.client = client
        self._running: set[asyncio.Task[None]] = set()  # (a task nobody holds may be collected)

    def takes(self, payload: dict[str, Any]) -> bool:
        view = payload.get("view")
        return (
            payload.get("type") == "view_submission"
            and isinstance(view, dict)
            and view.get("callback_id") == self.callback_id
        )

    async def handle(self, payload: dict[str, Any]) -> web.Response:
        """The reply, once the answer is known; what comes after it starts as a task."""
        try:
            said, after = await self.answer(payload, payload["view"], self.client)
        except Exception:
            log.exception("pulse submission failed")
            return web.json_response(FAILED, status=500)
        if after is not None:
            task = asyncio.ensure_future(after())
            self._running.add(task)
            task.add_done_callback(self._done)
        if not said:
            return web.Response(content_type="text/plain")  # a bare ack (as Bolt's adapter answers)
        return await to_aiohttp_response(await AsyncAck()(**said))  # type: ignore[no-untyped-call]

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pulse submission failed", exc_info=task.exception())
