"""``bench/fanout.py --replicas 2 --kill``: two ``teampulse serve`` replicas share one PostgreSQL
database and the fake Slack; one is SIGKILLed mid-round (not restarted), and the survivor takes
over its rows once their lease runs out.

Measured: people reached and people reached twice, read back from the fake over the Web API
(``conversations.history`` of every person's DM, counting the messages that carry a delivery
key), and the time from ``pulse send`` to the last outbox row settled (sent or failed)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
from ingest_processes import Child, spawn_serve

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "xoxb-bench"
SETTLE_TIMEOUT = 900  # seconds: the round must settle within this, or the run fails


async def posts(http: aiohttp.ClientSession, fake: Child) -> int:
    async with http.get(f"{fake.url}/stats") as response:
        return int((await response.json())["posts"])


async def outbox(connection: asyncpg.Connection) -> Counter[str]:
    """The round's rows by state, read straight from the database."""
    rows = await connection.fetch("SELECT status, count(*) AS n FROM delivery GROUP BY status")
    return Counter({row["status"]: row["n"] for row in rows})


async def pulses_per_person(http: aiohttp.ClientSession, fake: Child, people: int) -> Counter[int]:
    """How many people got 0, 1, 2… pulses: each DM (``DU<6 digits>``) read back.  A DM with
    more than one is printed as its messages' delivery keys and times (row ids, no one named):
    one key twice is a row sent twice."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    counts: Counter[int] = Counter()
    queue = iter(range(people))

    def pulses(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in messages if "metadata" in m]

    async def reader() -> None:
        for i in queue:
            params = {"channel": f"DU{i:06d}", "include_all_metadata": "true", "limit": "100"}
            url = f"{fake.url}/api/conversations.history"
            async with http.post(url, data=params, headers=headers) as response:
                messages = (await response.json()).get("messages") or []
            found = pulses(messages)
            counts[len(found)] += 1
            if len(found) > 1:
                keys = [(m["metadata"]["event_payload"]["key"], m["ts"]) for m in found]
                print(f"more than one pulse in a DM: {keys}", flush=True)

    await asyncio.gather(*(reader() for _ in range(16)))
    return counts


async def run_replicas(
    http: aiohttp.ClientSession,
    fake: Child,
    url: str,
    folder: Path,
    args: argparse.Namespace,
    env: dict[str, str],
) -> None:
    env = {**env, "TEAMPULSE_OUTBOX_LEASE_SECONDS": str(args.lease), "TEAMPULSE_WORKERS": "1"}
    code = (args.code,) if args.code else ()  # another checkout's code, to compare
    replicas = [
        await spawn_serve(env, folder / f"replica{n}.log", code) for n in range(args.replicas)
    ]
    db = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await asyncio.sleep(2)  # their start-up work (the scheduler's first tick) is over
        await http.post(f"{fake.url}/reset")
        started = time.time()
        teampulse = str(Path(sys.executable).parent / "teampulse")
        subprocess.run(
            [teampulse, "pulse", "send", "--team", "Everyone"],
            cwd=folder,
            env={**os.environ, **env, "PYTHONPATH": os.pathsep.join([*code, str(ROOT)])},
            check=True,
            capture_output=True,
        )
        killed = await kill_one(http, fake, db, replicas[0], args) if args.kill else None
        settled = await until_settled(db, args.people, started)
        reached = await pulses_per_person(http, fake, args.people)
        rows = await outbox(db)
    finally:
        await db.close()
        for replica in replicas:
            if replica.process.poll() is None:
                replica.stop()
    if killed is not None:
        killed["at"] -= started
    report(args, killed, settled - started, reached, rows)


async def kill_one(
    http: aiohttp.ClientSession,
    fake: Child,
    db: asyncpg.Connection,
    replica: Child,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """SIGKILL ``replica`` once ``--kill-after`` DMs are out; what it left in flight."""
    while (out := await posts(http, fake)) < args.kill_after:
        await asyncio.sleep(0.05)
    replica.process.send_signal(signal.SIGKILL)
    replica.process.wait(timeout=60)
    left = await outbox(db)
    return {"posts": out, "in_flight": left["sending"], "at": time.time()}


async def until_settled(db: asyncpg.Connection, people: int, started: float) -> float:
    """The time every row was sent or failed (checked every tenth of a second)."""
    while True:
        left = await outbox(db)
        if left["sent"] + left["failed"] == people:
            return time.time()
        if time.time() - started > SETTLE_TIMEOUT:
            raise RuntimeError(f"not settled in {SETTLE_TIMEOUT} s: {dict(left)}")
        await asyncio.sleep(0.1)


def report(
    args: argparse.Namespace,
    killed: dict[str, Any] | None,
    total: float,
    reached: Counter[int],
    rows: Counter[str],
) -> None:
    print(f"people {args.people}; {args.replicas} replicas; lease {args.lease} s")
    if killed is not None:
        print(
            f"killed one replica {killed['at']:.1f} s after pulse send started, after"
            f" {killed['posts']} DMs; rows in flight then: {killed['in_flight']}"
        )
    once_or_more = sum(n for times, n in reached.items() if times >= 1)
    twice = sum(n for times, n in reached.items() if times >= 2)
    print(
        f"reached {once_or_more} of {args.people}; reached twice {twice}; not reached"
        f" {reached[0]}; all settled {total:.1f} s after pulse send started; rows {dict(rows)}"
    )
