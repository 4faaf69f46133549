"""A trust's Monday, simulated (issue 13): an organisation of ``--people`` people in ``--teams``
wards on PostgreSQL, ``--replicas`` ``teampulse serve`` processes sharing the database (leader
election picks the one that runs the scheduler's tick), and the tests' fake Slack at Slack's
limits in a process of its own (``bench/trust_day_fake.py``).

Phases, each timed (wall time; CPU seconds and peak RSS per replica; PostgreSQL's transactions,
tuples, peak connections and backends' CPU: ``bench/trust_day_probe.py``):

1. **open** every ward's round (this process, through the service: ``TeamPulse.open_rounds``,
   several per transaction, as the scheduler's tick opens the teams due, but without its first
   hour's spread; in a checkout from before ``open_rounds``, one after another, as ``pulse send``
   does: run such a checkout's tree with this file for the yardstick);
2. **deliver** every pulse (from the first round opened to the last DM), against the ideal
   ``people / --post-rate`` (the fake's workspace cap on ``chat.postMessage``, which the server
   does not know: it learns it from 429s, ``adapters/slack/pacing.py``);
3. **answer**: ``--answer-share`` of the people submit the pulse modal (signed
   ``view_submission``s, round-robin over the replicas) over ``--window`` seconds, open loop,
   each at its own arrival time: exponentially decaying, mean a fifth of the window (a burst as
   the pulses land, then a tail: ``trust_day_setup.arrivals``).  Latency p50/p95/p99;
4. **remind**: the rounds are made to close tomorrow (``closes_on``), and the leader's next
   minute tick queues the reminders and sends them (to whoever has not answered), as on the
   day before a round closes.  Reported: the wait for the tick, and the tick to the last DM;
5. **close**: the rounds are made due (``closes_on`` yesterday) and counted in last week
   (``report_week``), so the next tick closes them all and rebuilds (cuts) that week: the tick
   to the week's cut.  (Due yesterday rather than today: a week is cut on its last round's
   closing day only if no answer's reservation is left unsure, ``surveys/rollup._settled``; one
   lost with a connection holds the cut until the next day);
6. **trends**: every manager sends ``/pulse trends`` (``--trend-concurrency`` at once); each
   timed from sending to its reply reaching the ``response_url``.

A run is one configuration: run it with ``--replicas 1`` and ``--replicas 2`` (``--deliver-only``
stops after phase 2).  Not run by any
test (a bench).  Usage::

    .venv/bin/python bench/trust_day.py                      # 15,000 people, 600 wards
    .venv/bin/python bench/trust_day.py --replicas 2
    .venv/bin/python bench/trust_day.py --quick              # 2,000 people, 80 wards, 1 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from ingest_processes import SECRET, Child, spawn, spawn_serve, until_quiet  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402
from trust_day_fake import TOKEN  # noqa: E402
from trust_day_probe import Phase, Probe  # noqa: E402
from trust_day_report import report  # noqa: E402
from trust_day_setup import (  # noqa: E402
    BENCH_SECRET,
    Trust,
    answer_bodies,
    arrivals,
    create_database,
    plain,
    prepare,
    signed_headers,
    trends_body,
)
from trust_day_ticks import close, remind  # noqa: E402

from bot.words import STILL_SAVING  # noqa: E402

TIMEOUT = 900.0  # seconds any one wait may take before the run fails
ARRIVAL_MEAN = 0.2  # of the window: the answers' mean arrival time


def refused(answer: bytes) -> bool:
    """A modal's answer that kept it open saying "couldn't save, please try again"."""
    try:
        found = json.loads(answer) if answer else {}
    except ValueError:
        return True
    return not isinstance(found, dict) or found.get("response_action") == "errors"


def still_saving(answer: bytes) -> bool:
    """A modal's answer that says the answers are still being saved (the receipt follows)."""
    try:
        found = json.loads(answer) if answer else {}
    except ValueError:
        return False
    return STILL_SAVING in json.dumps(found, ensure_ascii=False)


class Day:
    """One run's processes, connections and findings."""

    fake: Child
    replicas: list[Child]
    probe: Probe
    db: asyncpg.Connection
    http: aiohttp.ClientSession
    ticked: float  # the wall time a tick of the leader was seen

    def __init__(self, args: argparse.Namespace, trust: Trust, url: str, folder: Path) -> None:
        self.args, self.trust, self.url, self.folder = args, trust, url, folder
        self.phases: list[Phase] = []
        self.verifier = SignatureVerifier(SECRET)

    async def stats(self) -> dict[str, Any]:
        async with self.http.get(f"{self.fake.url}/stats") as response:
            return dict(await response.json())

    async def count(self, query: str) -> int:
        return int(await self.db.fetchval(query))

    async def until(self, what: str, check: Any, every: float = 0.1) -> float:
        """Poll ``check()`` until true; the wall time it first was."""
        started = time.time()
        while not await check():
            if time.time() - started > TIMEOUT:
                raise RuntimeError(f"{what}: not done in {TIMEOUT:.0f} s")
            await asyncio.sleep(every)
        return time.time()

    # -- phases 1 and 2 -----------------------------------------------------------------------
    async def open_and_deliver(self) -> None:
        from bot.service import TeamPulse
        from bot.settings import Settings
        from storage.engine import Database

        settings = Settings(_env_file=None, DATABASE_URL=self.url, TEAMPULSE_SECRET=BENCH_SECRET)
        service = TeamPulse(Database(self.url), settings)
        opening = await self.probe.begin("1 open rounds")
        delivering = await self.probe.begin("2 deliver pulses")
        started = time.time()
        wards = [self.trust.ward(t) for t in range(self.trust.teams)]
        if hasattr(service, "open_rounds"):  # several rounds per transaction
            refs = [await service.team_named(ward) for ward in wards]
            opened = await service.open_rounds(refs)
        else:  # a checkout from before it (the yardstick): one after another
            for ward in wards:
                await service.open_round(await service.team_named(ward))
            opened = len(wards)
        ended = await self.probe.end(opening)
        ended.extra = {"opened": opened, "batched": hasattr(service, "open_rounds")}
        self.phases.append(ended)
        await service.db.dispose()
        people = self.trust.people

        async def delivered() -> bool:
            return int((await self.stats())["posts"]) >= people

        await self.until("delivery", delivered, every=0.2)
        seen = await self.stats()
        phase = await self.probe.end(delivering)
        ideal = people / self.args.post_rate if self.args.post_rate else 0.0
        rows = await self.db.fetch("SELECT status, count(*) AS n FROM delivery GROUP BY status")
        phase.extra = {
            "people": people,
            "last_dm_s": seen["last"] - started,
            "first_dm_s": seen["first"] - started,
            "ideal_s": ideal,
            "refused": seen["refused"],
            "methods": seen["methods"],
            "outbox": {r["status"]: r["n"] for r in rows},
        }
        self.phases.append(phase)

    # -- phase 3 ------------------------------------------------------------------------------
    async def post(self, replica: Child, body: str) -> tuple[float, int, bytes]:
        """One signed request: its latency, status and answer."""
        sent = time.perf_counter()
        headers = signed_headers(self.verifier, body)
        async with self.http.post(replica.url + "/slack/events", data=body, headers=headers) as r:
            answer = await r.read()
        return time.perf_counter() - sent, r.status, answer

    async def warm_answers(self, bodies: list[str]) -> list[str]:
        """Each replica's first answer with a comment, sent (and re-sent, as the person would
        after "couldn't save") until it is saved, before the timed window: a server up since
        last week has loaded TextBlob already (``surveys/lazy.py``).  The rest of the bodies;
        ``self.cold``: the first try's latency and answer per replica."""
        self.cold: list[str] = []
        for n, replica in enumerate(self.replicas):
            body = bodies.pop(4 * n)  # every fourth body carries a comment
            for attempt in range(60):
                seconds, status, answer = await self.post(replica, body)
                if attempt == 0:
                    self.cold.append(f"{1000 * seconds:.0f} ms {status} {answer[:40]!r}")
                if status == 200 and not refused(answer):
                    break
                await asyncio.sleep(1)
            await until_quiet(replica.process.pid)
        return bodies

    async def answer(self) -> None:
        bodies = await answer_bodies(self.url, self.args.answer_share, seed=13)
        if not self.args.cold:
            bodies = await self.warm_answers(bodies)
        times = arrivals(len(bodies), self.args.window, ARRIVAL_MEAN, seed=13)
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        connector = aiohttp.TCPConnector(limit=1024)
        phase = await self.probe.begin("3 answers")
        async with aiohttp.ClientSession(connector=connector) as http:
            start = time.perf_counter()

            async def one(n: int, body: str, at: float) -> None:
                await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
                replica = self.replicas[n % len(self.replicas)]
                sent = time.perf_counter()
                async with http.post(
                    replica.url + "/slack/events",
                    data=body,
                    headers=signed_headers(self.verifier, body),
                ) as response:
                    answer = await response.read()
                latencies.append(time.perf_counter() - sent)
                ok = response.status == 200 and answer == b""
                key = "ok" if ok else f"{response.status} {answer[:80]!r}"
                if response.status == 200 and still_saving(answer):
                    key = "still saving"  # (the modal says so; the receipt follows the commit)
                statuses[key] = statuses.get(key, 0) + 1

            tasks = [one(n, b, at) for n, (b, at) in enumerate(zip(bodies, times, strict=True))]
            await asyncio.gather(*tasks)
            sent_s = time.perf_counter() - start
        for replica in self.replicas:  # the receipts (chat.update) after the acks
            await until_quiet(replica.process.pid)
        ended = await self.probe.end(phase)
        ended.extra = {
            "answers": len(bodies),
            "window_s": self.args.window,
            "in_first_fifth": sum(1 for t in times if t < self.args.window / 5),
            "last_sent_s": sent_s,
            "latencies": latencies,
            "statuses": statuses,
            "cold": self.cold if not self.args.cold else [],
        }
        self.phases.append(ended)

    # -- phase 6 ------------------------------------------------------------------------------
    async def warm_trends(self) -> list[float]:
        """Each replica's first report (SciPy and matplotlib load then: ``surveys/lazy.py``),
        before the timed phase: the seconds to its reply, per replica.  Its reply goes to a
        ``response_url`` of its own (``warm-<n>``)."""
        cold = []
        for n, replica in enumerate(self.replicas):
            body = trends_body(self.fake.url, n, name=f"warm-{n}")
            sent = time.time()
            await self.post(replica, body)

            async def arrived(name: str = f"warm-{n}") -> bool:
                return name in (await self.stats())["responses"]

            await self.until("a first report", arrived, every=0.05)
            cold.append((await self.stats())["responses"][f"warm-{n}"] - sent)
            await until_quiet(replica.process.pid)
        return cold

    async def trends(self) -> None:
        managers = self.trust.managers
        sent_at: dict[str, float] = {}
        acks: dict[str, int] = {}
        queue = iter(range(managers))
        replied: dict[str, float] = {}
        cold = [] if self.args.cold else await self.warm_trends()
        phase = await self.probe.begin("6 trends")

        async def poll() -> None:  # one reader of the fake's replies for every asker
            while True:
                replied.update((await self.stats())["responses"])
                await asyncio.sleep(0.02)

        poller = asyncio.ensure_future(poll())

        async def asker() -> None:
            for m in queue:
                body = trends_body(self.fake.url, m)
                replica = self.replicas[m % len(self.replicas)]
                name = f"trends-{m}"
                sent_at[name] = time.time()
                async with self.http.post(
                    replica.url + "/slack/events",
                    data=body,
                    headers=signed_headers(self.verifier, body),
                ) as response:
                    await response.read()
                acks[str(response.status)] = acks.get(str(response.status), 0) + 1

                async def arrived(n: str = name) -> bool:
                    return n in replied

                await self.until(name, arrived, every=0.01)

        await asyncio.gather(*(asker() for _ in range(self.args.trend_concurrency)))
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        responses = (await self.stats())["responses"]
        ended = await self.probe.end(phase)
        ended.extra = {
            "asked": managers,
            "acks": acks,
            "latencies": [responses[n] - at for n, at in sent_at.items() if n in responses],
            "cold": cold,
        }
        self.phases.append(ended)


async def run(args: argparse.Namespace) -> None:
    trust = Trust(args.people, args.teams, args.directorates)
    url, name = await create_database(args.pg_url, args.db_prefix)
    folder = Path(tempfile.mkdtemp(prefix="trust_day_"))
    children: list[Child] = []
    load_before = os.getloadavg()
    try:
        started = time.perf_counter()
        await prepare(url, trust)
        print(f"set-up: {trust} in {time.perf_counter() - started:.1f} s", flush=True)
        env = {
            "TRUST_DAY_PEOPLE": str(trust.people),
            "TRUST_DAY_MANAGERS": str(trust.managers),
            "TRUST_DAY_POST_RATE": str(args.post_rate),
            "TRUST_DAY_OPEN_PER_MINUTE": str(args.open_per_minute),
        }
        fake = spawn("fake", env, folder / "fake.log", str(ROOT / "bench" / "trust_day_fake.py"))
        children.append(fake)
        day = Day(args, trust, url, folder)
        day.fake = fake
        serve_env = {
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": f"{fake.url}/api/",
            "TEAMPULSE_SECRET": BENCH_SECRET,
            "TEAMPULSE_WORKERS": "1",
        }
        day.replicas = []
        for n in range(args.replicas):
            replica = await spawn_serve(serve_env, folder / f"replica{n}.log")
            children.append(replica)
            day.replicas.append(replica)
        await asyncio.sleep(3)  # their start-up work (the leader's first tick) is over
        admin = plain(args.pg_url)
        day.probe = Probe(admin, name, [r.process.pid for r in day.replicas])
        await day.probe.start()
        day.db = await asyncpg.connect(plain(url))
        async with aiohttp.ClientSession() as http:
            day.http = http
            await day.open_and_deliver()
            print("delivered", flush=True)
            if not args.deliver_only:
                await day.answer()
                print("answered", flush=True)
                await remind(day)
                print("reminded", flush=True)
                await close(day)
                print("closed", flush=True)
                await day.trends()
        await day.db.close()
        await day.probe.stop()
        report(args, trust, day.phases, load_before, os.getloadavg())
        if args.json:
            Path(args.json).write_text(json.dumps([p.__dict__ for p in day.phases], default=str))
        print(f"server logs: {folder}")
    finally:
        for child in reversed(children):
            child.stop()
        connection = await asyncpg.connect(plain(args.pg_url))
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parse.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parse.add_argument("--db-prefix", default="trust_day", help="of the throwaway database")
    parse.add_argument("--people", type=int, default=15_000)
    parse.add_argument("--teams", type=int, default=600, help="wards")
    parse.add_argument("--directorates", type=int, default=20)
    parse.add_argument("--replicas", type=int, default=1)
    parse.add_argument("--window", type=float, default=600.0, help="seconds of answers")
    parse.add_argument("--answer-share", type=float, default=0.4)
    parse.add_argument(
        "--post-rate", type=int, default=100, help="chat.postMessage/s the fake allows"
    )
    parse.add_argument(
        "--open-per-minute", type=int, default=50, help="conversations.open/min (Tier 3)"
    )
    parse.add_argument("--trend-concurrency", type=int, default=8)
    parse.add_argument(
        "--cold",
        action="store_true",
        help="no warm-up: the first comment and report of each replica load their libraries"
        " inside the timed phases",
    )
    parse.add_argument("--json", help="write the phases' figures here")
    parse.add_argument(
        "--deliver-only", action="store_true", help="phases 1 and 2 only (open and deliver)"
    )
    parse.add_argument("--quick", action="store_true", help="2,000 people, 80 wards, 60 s")
    return parse


def main() -> None:
    args = parser().parse_args()
    if args.quick:
        args.people, args.teams, args.directorates, args.window = 2000, 80, 8, 60.0
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
