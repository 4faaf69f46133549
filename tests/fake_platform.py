"""A local stand-in for a chat platform's HTTP API: the harness each platform's fake builds on.

An aiohttp server on 127.0.0.1 and a random port.  A platform's fake (``tests/fake_slack.py``
for Slack's Web API; a Teams fake for the Bot Connector REST API would be another) adds its
routes and, for each call, hands ``answer`` the call's name, its parameters and how to build the
normal answer.  The harness then:

- records every call (``calls``, ``called``);
- answers a queued reply first, in order, once each: a 429 with ``Retry-After``
  (``rate_limit_next``) or any status and body (``error_next``);
- waits before answering a method that has been slowed down (``slow_down``: latency on demand);
- lets tests wait on conditions (``wait_for`` a call, ``wait_until`` anything about the calls)
  rather than on the clock: every recorded call wakes the waiters.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    """One call as the fake saw it: ``status`` is what it answered (200 for a normal answer);
    ``at``, when it was answered (``time.monotonic``)."""

    method: str
    params: dict[str, Any]
    status: int = 200
    body: bytes = b""
    answer: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass
class Canned:
    """A reply queued for the next call of a method, in place of its normal answer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakePlatform:
    """The generic harness; subclasses add their routes in ``routes``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.queued: defaultdict[str, deque[Canned]] = defaultdict(deque)
        self.latency: dict[str, float] = {}  # method -> seconds to wait before answering
        self.url = ""
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # -- the server ------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def routes(self, app: web.Application) -> None:
        """The platform's routes (none here)."""

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what the next calls get ---------------------------------------------------------------
    def queue(self, method: str, canned: Canned) -> None:
        self.queued[method].append(canned)

    def rate_limited_body(self) -> dict[str, Any]:
        """The body of a 429 (a platform's fake gives its own)."""
        return {"error": "rate limited"}

    def rate_limit_next(self, method: str, retry_after: int = 1) -> None:
        """The next call of ``method`` gets a 429 with ``Retry-After``; the one after, an answer."""
        headers = {"Retry-After": str(retry_after)}
        self.queue(method, Canned(429, self.rate_limited_body(), headers))

    def error_next(
        self, method: str, status: int = 500, body: dict[str, Any] | None = None
    ) -> None:
        """The next call of ``method`` gets ``status`` (and ``body``)."""
        self.queue(method, Canned(status, body if body is not None else {"error": "injected"}))

    def slow_down(self, method: str, seconds: float) -> None:
        """Every later call of ``method`` is answered ``seconds`` late (0: on time again)."""
        if seconds > 0:
            self.latency[method] = seconds
        else:
            self.latency.pop(method, None)

    async def answer(
        self, method: str, params: dict[str, Any], build: Callable[[], dict[str, Any]]
    ) -> web.Response:
        """A call's reply: after its latency, the queued reply if any, else ``build()``."""
        delay = self.latency.get(method)
        if delay:
            await asyncio.sleep(delay)  # the injected latency, on the fake's side
        if self.queued[method]:
            canned = self.queued[method].popleft()
            await self.record(Call(method, params, canned.status))
            return web.json_response(canned.body, status=canned.status, headers=canned.headers)
        body = build()
        await self.record(Call(method, params, 200, answer=body))
        return web.json_response(body)

    # -- what happened -------------------------------------------------------------------------
    async def record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def called(self, method: str, **match: Any) -> list[Call]:
        """The calls of ``method`` answered normally whose parameters include ``match``."""
        return [
            call
            for call in self.calls
            if call.method == method
            and call.status == 200
            and all(call.params.get(k) == v for k, v in match.items())
        ]

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 15) -> None:
        """Until ``condition()`` holds, checked again at every call recorded."""
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(condition)
        except TimeoutError:
            seen = [c.method for c in self.calls]
            raise AssertionError(f"not so within {timeout}s; calls: {seen}") from None

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda _call: True,
        count: int = 1,
        timeout: float = 15,
    ) -> list[Call]:
        """The normally answered calls of ``method`` matching ``predicate`` once there are
        ``count``."""

        def found() -> list[Call]:
            return [c for c in self.called(method) if predicate(c)]

        try:
            await self.wait_until(lambda: len(found()) >= count, timeout)
        except AssertionError:
            seen = [c.method for c in self.calls]
            raise AssertionError(
                f"no {count} x {method} within {timeout}s; calls: {seen}"
            ) from None
        return found()
