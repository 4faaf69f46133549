"""The fake-platform harness itself (``tests/fake_platform.py``): what every platform's fake
relies on behaves as the tests using it assume."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fake_platform import FakePlatform


class EchoPlatform(FakePlatform):
    """The smallest platform: ``POST /v3/{method}`` answers ``{"ok": true, "echo": …}``."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/{method}", self._call)

    async def _call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = await request.json()
        return await self.answer(method, params, lambda: {"ok": True, "echo": params})


@pytest.fixture
async def fake() -> AsyncIterator[EchoPlatform]:
    platform = EchoPlatform()
    await platform.start()
    yield platform
    await platform.stop()


async def call(fake: FakePlatform, method: str, **params: Any) -> tuple[int, dict[str, Any], str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.url}/v3/{method}", json=params) as response,
    ):
        return response.status, await response.json(), response.headers.get("Retry-After", "")


async def test_it_listens_on_a_local_random_port_and_records_each_call(fake: EchoPlatform) -> None:
    assert fake.url.startswith("http://127.0.0.1:") and not fake.url.endswith(":0")
    status, body, _ = await call(fake, "send", text="hello")
    assert (status, body) == (200, {"ok": True, "echo": {"text": "hello"}})
    [sent] = fake.called("send", text="hello")
    assert sent.answer == body


async def test_a_queued_429_is_answered_once_then_the_method_answers_normally(
    fake: EchoPlatform,
) -> None:
    fake.rate_limit_next("send", retry_after=7)
    assert await call(fake, "send", n=1) == (429, {"error": "rate limited"}, "7")
    status, body, retry_after = await call(fake, "send", n=2)
    assert (status, body["ok"], retry_after) == (200, True, "")
    assert [c.status for c in fake.calls] == [429, 200]
    assert [c.params["n"] for c in fake.called("send")] == [2]  # only the normal answer counts


async def test_an_injected_error_goes_to_the_next_call_of_its_method_only(
    fake: EchoPlatform,
) -> None:
    fake.error_next("send", 503, {"error": "down"})
    assert (await call(fake, "other"))[0] == 200
    assert (await call(fake, "send"))[:2] == (503, {"error": "down"})
    assert (await call(fake, "send"))[0] == 200


async def test_injected_latency_delays_that_method_only_until_it_is_lifted(
    fake: EchoPlatform,
) -> None:
    fake.slow_down("send", 0.5)
    started = time.monotonic()
    slow = asyncio.ensure_future(call(fake, "send"))
    assert (await call(fake, "other"))[0] == 200
    assert not slow.done()  # the other method was answered while this one still waits
    assert (await slow)[0] == 200
    assert time.monotonic() - started >= 0.5
    fake.slow_down("send", 0)
    started = time.monotonic()
    await call(fake, "send")
    assert time.monotonic() - started < 0.5


async def test_waiting_ends_when_the_call_arrives_or_fails_at_the_deadline(
    fake: EchoPlatform,
) -> None:
    waiting = asyncio.ensure_future(fake.wait_for("send", lambda c: c.params.get("n") == 2))
    await call(fake, "send", n=1)
    await fake.wait_until(lambda: len(fake.calls) == 1)
    assert not waiting.done()
    await call(fake, "send", n=2)
    [matched] = await waiting
    assert matched.params == {"n": 2}
    with pytest.raises(AssertionError, match="no 1 x never"):
        await fake.wait_for("never", timeout=0.05)
