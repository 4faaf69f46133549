"""The fake Slack of ``bench/trust_day.py``, in a process of its own (``python
bench/trust_day_fake.py``, printing ``READY <url>``, stopping when its stdin closes).

The tests' fake (``tests/fake_slack.py``) knowing every person of the bench's trust
(``TRUST_DAY_PEOPLE`` members ``p<n>@`` and ``TRUST_DAY_MANAGERS`` managers ``m<n>@``), at
Slack's limits:

* ``chat.postMessage``: ``TRUST_DAY_POST_RATE`` a second in the workspace (a sliding one-second
  window, 429 and a whole-second ``Retry-After`` beyond: the fake's own ``throttle_posts``).
  Slack does not publish this cap; the per-channel limit (about 1 a second) never binds here,
  as each pulse goes to a DM of its own, one message at a time;
* ``conversations.open`` (Tier 3, "50+ a minute"): ``TRUST_DAY_OPEN_PER_MINUTE`` over a sliding
  minute, 429 beyond (0: no limit).

``GET /stats``: the Web API calls by method and how many were refused (429), the posts' count and
the first and last post's wall time, and ``responses``: each ``response_url`` name's first call's
wall time (a slash command's reply).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

TOKEN = "xoxb-bench"
TEAM_ID = "T0BENCH"
DOMAIN = "trust.example"
OPEN = "conversations.open"


def member_email(i: int) -> str:
    return f"p{i:05d}@{DOMAIN}"


def manager_email(i: int) -> str:
    return f"m{i:04d}@{DOMAIN}"


def slack_user(email: str) -> str:
    """The fake's user id for an email: ``U`` and its local part, upper-cased."""
    return "U" + email.split("@")[0].upper()


class Window:
    """At most ``limit`` calls over a sliding ``seconds`` window."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.times: deque[float] = deque()

    def wait(self) -> float | None:
        """None (and the call counted) if there is room; else the seconds until there is."""
        now = time.monotonic()
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if len(self.times) < self.limit:
            self.times.append(now)
            return None
        return self.times[0] + self.seconds - now


async def run() -> None:
    from tests.fake_slack import FakeSlack

    fake = FakeSlack()
    fake.tokens[TOKEN] = TEAM_ID
    for i in range(int(os.environ["TRUST_DAY_PEOPLE"])):
        fake.add_user(slack_user(member_email(i)), member_email(i))
    for i in range(int(os.environ["TRUST_DAY_MANAGERS"])):
        fake.add_user(slack_user(manager_email(i)), manager_email(i))
    if rate := int(os.environ.get("TRUST_DAY_POST_RATE") or 0):
        fake.throttle_posts(rate)
    per_minute = int(os.environ.get("TRUST_DAY_OPEN_PER_MINUTE") or 0)
    opens = Window(per_minute, 60.0) if per_minute else None
    methods: Counter[str] = Counter()
    refused = Counter[str]()
    posts: list[float] = []
    responses: dict[str, float] = {}
    answer, record = fake.answer, fake.record

    async def counted(method: str, params: dict[str, Any], build: Any) -> web.Response:
        if method == OPEN and opens is not None and (wait := opens.wait()) is not None:
            refused[method] += 1
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            return web.json_response(fake.rate_limited_body(), status=429, headers=headers)
        response = await answer(method, params, build)
        methods[method] += 1
        if method == "chat.postMessage" and response.status == 200:
            posts.append(time.time())
        return response

    async def recorded(call: Any) -> None:
        if call.method == "response_url":
            responses.setdefault(str(call.params.get("name")), time.time())
        elif call.status == 429 and call.method != OPEN:
            refused[call.method] += 1
        await record(call)
        fake.calls.clear()  # the bench reads /stats, not the calls: memory stays flat

    fake.answer = counted  # type: ignore[method-assign]
    fake.record = recorded  # type: ignore[method-assign]
    routes = fake.routes

    def with_stats(app: web.Application) -> None:
        routes(app)

        async def stats(_request: web.Request) -> web.Response:
            first, last = (posts[0], posts[-1]) if posts else (None, None)
            return web.json_response(
                {
                    "methods": dict(methods),
                    "refused": dict(refused),
                    "posts": len(posts),
                    "first": first,
                    "last": last,
                    "responses": responses,
                }
            )

        app.router.add_get("/stats", stats)

    fake.routes = with_stats  # type: ignore[method-assign]
    await fake.start()
    print(f"READY {fake.url}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(run())
