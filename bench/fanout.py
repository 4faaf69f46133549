"""Fan-out benchmark: a round opened for ``--people`` people, delivered by the real server.

One run, side by side, against the tests' fake Slack (``tests/fake_slack.py``, unthrottled, in a
process of its own that knows every person):

* ``app``: ``teampulse serve`` itself (Slack in one-workspace HTTP mode, the scheduler on) on a
  fresh PostgreSQL database holding one team of ``--people`` members.  ``teampulse pulse send``
  opens the round from another process, as an operator would; the server's sender is woken by
  its ``NOTIFY``.  Measured: time from starting ``pulse send`` to the first DM reaching the fake
  (the command's own run, a Python process starting and stopping, is given beside it),
  deliveries a second (first to last DM), the server's CPU per delivery and Web API calls per
  delivery (a first pulse: ``conversations.open`` and ``chat.postMessage``, plus the
  workspace's directory, ``users.list``, read once, 200 people a page), and the bench
  database's PostgreSQL connections: the most open at once (sampled) and how many were opened
  (``Connections``; with ``TEAMPULSE_DB_POOL_SIZE`` and ``TEAMPULSE_DB_MAX_OVERFLOW`` set in
  the environment the server runs with those).
* ``bare``: this process posting the same ``chat.postMessage`` bodies to the same fake with
  aiohttp, ``--concurrency`` at once: the rate the fake and the machine allow.

With ``--throttle N`` it runs the ``throttled`` scenario instead: the same ``app`` run against a
fake that allows ``N`` ``chat.postMessage`` a second in the workspace (a sliding one-second
window) and answers the ones beyond with a 429 and ``Retry-After``, as Slack's unpublished
workspace cap would.  Measured: the time from ``pulse send`` returning to the last DM, beside the
ideal ``people / N``, and the 429s the server received.

``--replicas 2 --kill`` runs another scenario instead (``run_replicas``): two ``teampulse
serve`` replicas on the same PostgreSQL database and the same fake; once ``--kill-after`` DMs
have gone out, one is SIGKILLed (and not restarted).  The survivor claims the dead one's rows
when their lease runs out (``--lease`` seconds, ``TEAMPULSE_OUTBOX_LEASE_SECONDS``) and checks
each against the person's DM before sending.  Reported: people reached, people reached twice
(each DM read back with ``conversations.history``: messages carrying a delivery key), and the
time from ``pulse send`` to the last row settled.

Usage::

    .venv/bin/python bench/fanout.py --people 2000
    .venv/bin/python bench/fanout.py --people 1000 --throttle 100
    .venv/bin/python bench/fanout.py --people 2000 --replicas 2 --kill
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from aiohttp import web  # noqa: E402
from fanout_replicas import run_replicas  # noqa: E402
from ingest_processes import SECRET, Child, cpu_seconds, spawn, spawn_serve  # noqa: E402

TOKEN = "xoxb-bench"
DOMAIN = "trust.example"
# the participation key: long enough for serve (bot/safety.py)
BENCH_SECRET = "bench-participation-key-not-for-production"


def email(i: int) -> str:
    return f"p{i}@{DOMAIN}"


# -- the fake, in its own process --------------------------------------------------------------
async def run_fake() -> None:
    """The tests' fake Slack knowing ``FANOUT_PEOPLE`` people, plus ``/stats``: the posts'
    count, the first and last post's wall time, the calls by method and the last post's body."""
    from tests.fake_slack import FakeSlack

    people = int(os.environ["FANOUT_PEOPLE"])
    fake = FakeSlack()
    throttle_fake(fake)
    fake.tokens[TOKEN] = "T0BENCH"
    for i in range(people):
        fake.add_user(f"U{i:06d}", email(i))
    posts: list[float] = []
    last: dict[str, Any] = {}
    answer = fake.answer

    async def timed(method: str, params: dict[str, Any], build: Any) -> web.Response:
        response = await answer(method, params, build)
        if method == "chat.postMessage" and response.status == 200:
            posts.append(time.time())
            last.clear()
            last.update({k: v for k, v in params.items() if not k.startswith("_")})
        return response

    fake.answer = timed  # type: ignore[method-assign]
    routes = fake.routes

    def with_stats(app: web.Application) -> None:
        routes(app)

        async def stats(_request: web.Request) -> web.Response:
            methods: dict[str, int] = {}
            for call in fake.calls:
                methods[call.method] = methods.get(call.method, 0) + 1
            first, final = (posts[0], posts[-1]) if posts else (None, None)
            body = {"posts": len(posts), "first": first, "last": final, "methods": methods}
            body["refused"] = sum(1 for call in fake.calls if call.status == 429)
            return web.json_response({**body, "body": last})

        async def reset(_request: web.Request) -> web.Response:
            posts.clear()
            fake.calls.clear()
            return web.json_response({"ok": True})

        app.router.add_get("/stats", stats)
        app.router.add_post("/reset", reset)

    fake.routes = with_stats  # type: ignore[method-assign]
    await fake.start()
    print(f"READY {fake.url}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await fake.stop()


def throttle_fake(fake: Any) -> None:
    """``FANOUT_THROTTLE``: the ``chat.postMessage`` a second the fake allows (unset: no limit)."""
    limit = os.environ.get("FANOUT_THROTTLE")
    if limit:
        fake.throttle_posts(int(limit))


# -- the run -----------------------------------------------------------------------------------
async def fresh_database(pg_url: str, people: int) -> tuple[str, str]:
    from storage.engine import Database
    from storage.migrate import upgrade
    from surveys.organisation import import_spec, spec_from_yaml

    name = f"tp_fanout_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = pg_url.rsplit("/", 1)[0] + f"/{name}"
    await upgrade(url)
    members = ", ".join(email(i) for i in range(people))
    spec = f"name: Bench Trust\nteams:\n  - name: Everyone\n    members: [{members}]\n"
    db = Database(url)
    async with db.session() as session:
        await import_spec(session, spec_from_yaml(spec))
    await db.dispose()
    return url, name


async def drop_database(pg_url: str, name: str) -> None:
    admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def stats(http: aiohttp.ClientSession, fake: Child) -> dict[str, Any]:
    async with http.get(f"{fake.url}/stats") as response:
        return dict(await response.json())


def app_env(url: str, fake: Child) -> dict[str, str]:
    """The server's settings: the bench's database, Slack at the fake."""
    return {
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"{fake.url}/api/",
        "TEAMPULSE_SECRET": BENCH_SECRET,
    }


class Connections:
    """The bench database's PostgreSQL connections, seen from another one: the most open at once
    (sampled every 20 ms) and how many were opened (``pg_stat_database.sessions``, every client
    of that database: the server and ``pulse send``)."""

    def __init__(self, url: str) -> None:
        self.name = url.rsplit("/", 1)[1]
        self.admin_dsn = url.rsplit("/", 1)[0].replace("postgresql+asyncpg://", "postgresql://")
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _sessions(self, admin: Any) -> int:
        await admin.execute("SELECT pg_stat_clear_snapshot()")
        query = "SELECT sessions FROM pg_stat_database WHERE datname = $1"
        return int(await admin.fetchval(query, self.name) or 0)

    async def __aenter__(self) -> Connections:
        self.admin = await asyncpg.connect(self.admin_dsn + "/postgres")
        self.sessions_before = await self._sessions(self.admin)
        self._task = asyncio.ensure_future(self._sample())
        return self

    async def _sample(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
        while True:
            self.peak = max(self.peak, int(await self.admin.fetchval(query, self.name)))
            await asyncio.sleep(0.02)

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def opened(self) -> int:
        """Sessions opened since entering (read once the server has stopped: a backend's count
        reaches the statistics when it goes idle or exits)."""
        await asyncio.sleep(1.5)  # PostgreSQL flushes backends' statistics at most every 1 s
        opened = await self._sessions(self.admin) - self.sessions_before
        await self.admin.close()
        return opened


async def run_app(
    http: aiohttp.ClientSession, fake: Child, url: str, people: int, folder: Path
) -> dict[str, Any]:
    env = app_env(url, fake)
    app = await spawn_serve(env, folder / "serve.log")
    connections = Connections(url)
    try:
        await asyncio.sleep(2)  # its start-up work (the scheduler's first tick) is over
        await http.post(f"{fake.url}/reset")
        cpu_before = cpu_seconds(app.process.pid)
        teampulse = str(Path(sys.executable).parent / "teampulse")
        async with connections:
            started = time.time()
            await asyncio.to_thread(
                subprocess.run,
                [teampulse, "pulse", "send", "--team", "Everyone"],
                cwd=folder,
                env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                check=True,
                capture_output=True,
            )
            sent_at = time.time()
            while (seen := await stats(http, fake))["posts"] < people:
                if time.time() - sent_at > 600:
                    raise RuntimeError(f"only {seen['posts']} DMs in 10 minutes")
                await asyncio.sleep(0.05)
        cpu = cpu_seconds(app.process.pid) - cpu_before
    finally:
        app.stop()
    opened = await connections.opened()
    span = seen["last"] - seen["first"]
    calls = sum(n for m, n in seen["methods"].items() if m != "auth.test")
    return {
        "cli_s": sent_at - started,
        "first_dm_s": seen["first"] - started,
        "all_s": seen["last"] - sent_at,
        "per_s": people / span if span > 0 else float("inf"),
        "cpu_ms": 1000 * cpu / people,
        "calls": calls / people,
        "peak_connections": connections.peak,
        "opened_connections": opened,
        "methods": seen["methods"],
        "body": seen["body"],
    }


async def run_bare(
    http: aiohttp.ClientSession, fake: Child, body: dict[str, Any], people: int, width: int
) -> dict[str, Any]:
    """aiohttp posting the app's last ``chat.postMessage`` body to every person's DM."""
    queue = iter(range(people))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def worker() -> None:
        for i in queue:
            payload = {**body, "channel": f"DU{i:06d}"}
            async with http.post(
                f"{fake.url}/api/chat.postMessage", json=payload, headers=headers
            ) as response:
                assert (await response.json())["ok"]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    elapsed = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = used.ru_utime + used.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    return {"per_s": people / elapsed, "cpu_ms": 1000 * cpu / people}


async def main(args: argparse.Namespace) -> None:
    url, name = await fresh_database(args.pg_url, args.people)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        fake = spawn("fake", {"FANOUT_PEOPLE": str(args.people)}, folder / "fake.log", __file__)
        try:
            async with aiohttp.ClientSession() as http:
                if args.replicas > 1:
                    await run_replicas(http, fake, url, folder, args, app_env(url, fake))
                    return
                app = await run_app(http, fake, url, args.people, folder)
                await http.post(f"{fake.url}/reset")
                bare = await run_bare(http, fake, app["body"], args.people, args.concurrency)
        finally:
            fake.stop()
            await drop_database(args.pg_url, name)
    print(f"people {args.people}")
    print(
        f"app   first DM {app['first_dm_s']:.2f} s after pulse send started (it ran"
        f" {app['cli_s']:.2f} s); all in {app['all_s']:.1f} s after it returned;"
        f" {app['per_s']:.0f} deliveries/s; {app['cpu_ms']:.2f} ms server CPU per delivery;"
        f" {app['calls']:.2f} Web API calls per delivery {json.dumps(app['methods'])}"
    )
    print(
        f"db    pool {os.environ.get('TEAMPULSE_DB_POOL_SIZE', 'default')}"
        f" + {os.environ.get('TEAMPULSE_DB_MAX_OVERFLOW', 'default')} overflow;"
        f" {app['peak_connections']} connections at most at once (sampled);"
        f" {app['opened_connections']} opened from pulse send to the last DM"
    )
    print(f"bare  {bare['per_s']:.0f} posts/s; {bare['cpu_ms']:.2f} ms client CPU per post")


async def main_throttled(args: argparse.Namespace) -> None:
    """The ``throttled`` scenario: the server delivering a round under the fake's post limit."""
    url, name = await fresh_database(args.pg_url, args.people)
    env = {"FANOUT_PEOPLE": str(args.people), "FANOUT_THROTTLE": str(args.throttle)}
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        fake = spawn("fake", env, folder / "fake.log", __file__)
        try:
            async with aiohttp.ClientSession() as http:
                app = await run_app(http, fake, url, args.people, folder)
                refused = (await stats(http, fake))["refused"]
        finally:
            fake.stop()
            await drop_database(args.pg_url, name)
    ideal = args.people / args.throttle
    print(f"people {args.people}; the fake allows {args.throttle} chat.postMessage/s")
    print(
        f"throttled  all in {app['all_s']:.1f} s after pulse send returned"
        f" ({app['all_s'] / ideal:.2f}x the ideal {ideal:.1f} s); first DM"
        f" {app['first_dm_s']:.2f} s after it started; {app['per_s']:.0f} deliveries/s first"
        f" to last DM; {refused} 429s received; {json.dumps(app['methods'])}"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["fake"]:
        asyncio.run(run_fake())
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--throttle", type=int, default=0, help="chat.postMessage/s the fake allows (0: no limit)"
    )
    parser.add_argument("--replicas", type=int, default=1, help="2: the replicas scenario")
    parser.add_argument("--kill", action="store_true", help="SIGKILL one replica mid-round")
    parser.add_argument("--kill-after", type=int, default=400, help="DMs out before the kill")
    parser.add_argument("--lease", type=int, default=15, help="the replicas' outbox lease (s)")
    parser.add_argument("--code", help="run the replicas from this checkout (to compare)")
    arguments = parser.parse_args()
    asyncio.run(main_throttled(arguments) if arguments.throttle else main(arguments))
