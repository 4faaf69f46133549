"""Slack ingest benchmark: signed pulse submissions into the running server on PostgreSQL.

One run, side by side:

* ``app``: ``teampulse serve`` itself (Slack in one-workspace HTTP mode, the scheduler and the
  access log on, ``TEAMPULSE_WORKERS`` from ``--workers``) on a fresh PostgreSQL database, its Web
  API pointed (``SLACK_API_URL``) at the tests' fake Slack (``tests/fake_slack.py``) in another
  process.  Each request is a signed ``view_submission`` of the pulse modal, exactly as Slack
  sends it, from a different person, so each one is a real answer recorded (the adapter acks only
  after the commit; the DM is then ``chat.update``d into the receipt, after the ack, as in
  production; the bench waits for those before the next turn and counts their CPU);
* ``baseline``, the yardstick (issue 13): the simplest server that loses no answer, an aiohttp
  handler in its own process that verifies the signature (slack_sdk's ``SignatureVerifier``) and
  commits the body with one ``INSERT`` (autocommit) through an asyncpg pool of 10 connections into
  a table of its own in the same database, then answers 200;
* ``bare``: a third reference, the same handler storing nothing (signature check and a 200);
* ``job``: a fourth, the simplest server that does the whole job a person sees (the signature,
  one answer per person and round with who answered kept apart from the answer, one
  transaction, then the receipt's ``chat.update`` to the fake Slack; ``ingest_processes.run_job``).

Set-up (not timed): an organisation of ``--teams`` teams of ``--people`` members each under one
trust, a round opened for every team, its outbox marked sent (the pulses were delivered before the
answers come in), and every person's Slack user id stored as a ``PlatformIdentity`` (as the
delivery stores it).  Every server gets ``--warmup`` requests first; then the measured requests
are sent in ``--rounds`` chunks, interleaved as the issue asks (baseline, app, baseline, app, …,
baseline: the baseline's extra last turn resends the first chunk's bodies; the bare handler goes
before each pair), by ``--concurrency`` client tasks over as many keep-alive connections, each
request signed when it is sent.  The output gives app/baseline throughput (target at least 1.0)
and both p99s (target: the app's no higher), the load average, and the app's group-commit batch
sizes (from its ``/metrics``).

Usage::

    .venv/bin/python bench/slack_ingest.py --teams 100 --people 51 --concurrency 64 --workers 1

``--pg-url`` names the PostgreSQL server (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/
postgres``); a fresh database is created and dropped at the end.  ``--code DIR`` serves the app
from another checkout (set-up and load stay this one's), to compare two versions run by run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from ingest_processes import (  # noqa: E402  (bench/ is on sys.path when run as a script)
    BASELINE_TABLE,
    SECRET,
    Child,
    cpu_split,
    spawn,
    spawn_serve,
    until_quiet,
)
from slack_sdk.signature import SignatureVerifier  # noqa: E402

DOMAIN = "trust.example"
# the participation key: long enough for serve (bot/safety.py), the same in set-up and server
BENCH_SECRET = "bench-participation-key-not-for-production"


# -- set-up --------------------------------------------------------------------------------------
def org_yaml(teams: int, people: int) -> str:
    lines = ["name: Bench Trust", "teams:", "  - name: Trust", f"    managers: [boss@{DOMAIN}]"]
    for t in range(teams):
        members = ", ".join(f"p{t * people + i:05d}@{DOMAIN}" for i in range(people))
        lines += [
            f"  - name: Ward {t:03d}",
            "    parent: Trust",
            f"    managers: [m{t:03d}@{DOMAIN}]",
            f"    members: [{members}]",
        ]
    return "\n".join(lines) + "\n"


def user_id(email: str) -> str:
    return "U" + email.split("@")[0].upper()


async def prepare(url: str, teams: int, people: int) -> list[str]:
    """Organisation, open rounds, delivered outbox, Slack identities; one signed-body-to-be per
    person (the ``payload=`` form of a ``view_submission``)."""
    from sqlalchemy import text

    from bot.service import TeamPulse
    from bot.settings import Settings
    from storage.engine import Database
    from storage.migrate import upgrade
    from surveys.organisation import spec_from_yaml, sync_questions

    await upgrade(url)
    settings = Settings(
        _env_file=None,
        DATABASE_URL=url,
        TEAMPULSE_SECRET=BENCH_SECRET,
    )
    service = TeamPulse(Database(url), settings)
    async with service.db.session() as session:
        await sync_questions(session)
        await session.commit()
    await service.import_organisation(spec_from_yaml(org_yaml(teams, people)))
    for t in range(teams):
        await service.open_round(await service.team_named(f"Ward {t:03d}"))
    async with service.db.engine.begin() as connection:
        await connection.execute(text("UPDATE delivery SET status = 'sent', sent_at = now()"))
        await connection.execute(
            text(
                "INSERT INTO platformidentity (person_id, platform, external_id) "
                "SELECT id, 'slack', 'U' || upper(split_part(email, '@', 1)) FROM person"
            )
        )
        rows = (
            await connection.execute(
                text(
                    "SELECT p.email, d.round_id, d.group_index, r.plan FROM delivery d "
                    "JOIN person p ON p.id = d.person_id JOIN pulse_round r ON r.id = d.round_id "
                    "ORDER BY random()"
                )
            )
        ).all()
    await service.db.dispose()
    bodies = []
    for n, (email, round_id, group_index, plan) in enumerate(rows):
        groups = json.loads(plan)
        questions = groups[group_index % len(groups)]
        uid = user_id(email)
        comment = "Handover ran late again but the team pulled together" if n % 4 == 0 else None
        bodies.append(pulse_submission(n, uid, "T0BENCH", round_id, questions, comment))
    return bodies


def pulse_submission(
    n: int, uid: str, team_id: str, round_id: int, questions: list[int], comment: str | None
) -> str:
    """The ``n``th signed-to-be body: Slack user ``uid`` of workspace ``team_id`` submits the
    pulse modal of round ``round_id`` (scores 1 to 5 in turn, ``comment`` if any, about the team
    in general), in the shape Slack posts it; its DM is ``D<uid>`` at a made-up ``ts``."""
    from adapters.slack.blocks import (
        ABOUT,
        ABOUT_BLOCK,
        ABOUT_GENERAL,
        COMMENT,
        COMMENT_BLOCK,
        QUESTION_BLOCK,
        SCORE,
        SUBMIT_PULSE,
    )

    values: dict[str, Any] = {
        f"{QUESTION_BLOCK}{q}": {
            SCORE: {"type": "radio_buttons", "selected_option": {"value": str(1 + (n + i) % 5)}}
        }
        for i, q in enumerate(questions)
    }
    if comment is not None:
        values[COMMENT_BLOCK] = {COMMENT: {"type": "plain_text_input", "value": comment}}
    general = {"text": {"type": "plain_text", "text": "General"}, "value": ABOUT_GENERAL}
    values[ABOUT_BLOCK] = {ABOUT: {"type": "static_select", "selected_option": general}}
    metadata = {
        "round": round_id,
        "questions": questions,
        "channel": f"D{uid}",
        "ts": f"1700000000.{n:06d}",
    }
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "bench"},
        "user": {"id": uid, "username": uid.lower(), "team_id": team_id},
        "api_app_id": "A0BENCH",
        "trigger_id": f"12466734323.{n}.abcdef",
        "view": {
            "id": f"V{n:08d}",
            "type": "modal",
            "callback_id": SUBMIT_PULSE,
            "private_metadata": json.dumps(metadata, separators=(",", ":")),
            "state": {"values": values},
            "hash": "156772938.1827394",
        },
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)})


# -- the load ------------------------------------------------------------------------------------
@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0  # the server process's CPU seconds (user + system) while measured
    system: float = 0.0  # of which in the kernel (system time: sockets, epoll)
    statuses: Counter[str] = field(default_factory=Counter)


async def fire(url: str, bodies: list[str], concurrency: int, sample: Sample) -> None:
    """Send every body once with ``concurrency`` tasks over as many keep-alive connections."""
    verifier = SignatureVerifier(SECRET)
    pending = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for body in pending:
                ts = str(int(time.time()))
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body) or "",
                }
                start = time.perf_counter()
                async with http.post(url + "/slack/events", data=body, headers=headers) as r:
                    answer = await r.read()
                sample.latencies.append(time.perf_counter() - start)
                ok = r.status == 200 and answer == b""
                sample.statuses["ok" if ok else f"{r.status} {answer[:60]!r}"] += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        sample.seconds += time.perf_counter() - start


async def batch_sizes(url: str) -> str:
    """The app's group-commit batches so far (warm-up included), from its ``/metrics``."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
        text = await response.text()
    found = {}
    for line in text.splitlines():
        for key in ("sum", "count"):
            if line.startswith(f"teampulse_pulse_submit_batch_size_{key} "):
                found[key] = float(line.split()[-1])
    count = found.get("count", 0.0)
    if not count:
        return "no batches"
    return f"{count:.0f} batches, {found['sum'] / count:.1f} cards each on average"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def row(name: str, sample: Sample) -> str:
    ms = [v * 1000 for v in sample.latencies]
    n = len(ms)
    return (
        f"| {name} | {n} | {n / sample.seconds:,.0f} | {statistics.median(ms):.1f} | "
        f"{percentile(ms, 95):.1f} | {percentile(ms, 99):.1f} | {max(ms):.1f} | "
        f"{sample.cpu * 1000 / n:.2f} ({sample.system * 1000 / n:.2f}) | {sample.statuses['ok']} |"
    )


def machine(pg_version: str) -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import slack_bolt

    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), Python "
        f"{platform.python_version()}, aiohttp {aiohttp.__version__}, slack-bolt "
        f"{slack_bolt.version.__version__}, {pg_version}"
    )


async def bench(args: argparse.Namespace) -> None:
    base = args.pg_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"{args.db_prefix}{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base)
    pg_version = str(await admin.fetchval("SHOW server_version"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
    logs = Path(tempfile.mkdtemp(prefix="slack_ingest_"))
    children: list[Child] = []
    try:
        started = time.perf_counter()
        bodies = await prepare(url, args.teams, args.people)
        print(f"set-up: {len(bodies)} people, {time.perf_counter() - started:.1f} s", flush=True)
        fake = spawn("fake", {}, logs / "fake.log")
        children.append(fake)
        env = {
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.url + "/api/",
            "TEAMPULSE_SECRET": BENCH_SECRET,
        }
        if args.workers > 1:
            env["TEAMPULSE_WORKERS"] = str(args.workers)
        code = (str(Path(args.code).resolve()),) if args.code else ()
        app = await spawn_serve(env, logs / "app.log", code)
        children.append(app)
        bare = spawn("bare", {"SLACK_SIGNING_SECRET": SECRET}, logs / "bare.log")
        children.append(bare)
        baseline = spawn(
            "baseline",
            {"SLACK_SIGNING_SECRET": SECRET, "BASELINE_URL": base.rsplit("/", 1)[0] + f"/{name}"},
            logs / "baseline.log",
        )
        children.append(baseline)
        job = spawn(
            "job",
            {
                "SLACK_SIGNING_SECRET": SECRET,
                "BASELINE_URL": base.rsplit("/", 1)[0] + f"/{name}",
                "SLACK_API_URL": fake.url + "/api/",
            },
            logs / "job.log",
        )
        children.append(job)
        gc.collect()
        gc.freeze()  # the load generator's own full collections would stall its clock
        if args.pid_file:
            Path(args.pid_file).write_text(str(app.process.pid))
        load = os.getloadavg()
        warm, measured = bodies[: args.warmup], bodies[args.warmup :]
        servers = {"app": app, "baseline": baseline, "bare": bare, "job": job}
        for child in servers.values():
            await fire(child.url, warm, args.concurrency, Sample())
            await until_quiet(child.process.pid)  # (TextBlob's first load, the receipts)
        print("warmed up; measuring", flush=True)  # (a profiler can start now)
        results = {key: Sample() for key in servers}

        async def turn(key: str, chunk: list[str]) -> None:
            child = servers[key]
            user, system = cpu_split(child.process.pid)
            await fire(child.url, chunk, args.concurrency, results[key])
            await until_quiet(child.process.pid)
            user_after, system_after = cpu_split(child.process.pid)
            results[key].cpu += user_after + system_after - user - system
            results[key].system += system_after - system

        # baseline, app, baseline, app, …, baseline (the order); the bare handler, cheap,
        # before each pair; the baseline's extra last turn takes the first chunk's bodies again
        size = -(-len(measured) // args.rounds)
        chunks = [measured[i : i + size] for i in range(0, len(measured), size)]
        for chunk in chunks:
            for key in ("bare", "job", "baseline", "app"):
                await turn(key, chunk)
        await turn("baseline", chunks[0])
        batches = await batch_sizes(app.url)
        admin = await asyncpg.connect(base.rsplit("/", 1)[0] + f"/{name}")
        stored = await admin.fetchval("SELECT count(DISTINCT submission_id) FROM response")
        respondents = await admin.fetchval("SELECT sum(respondents) FROM participation")
        baseline_rows = await admin.fetchval(f"SELECT count(*) FROM {BASELINE_TABLE}")
        await admin.close()
        rate = {k: len(v.latencies) / v.seconds for k, v in results.items()}
        p99 = {k: percentile(v.latencies, 99) * 1000 for k, v in results.items()}
        print()
        print(f"Machine: {machine('PostgreSQL ' + pg_version)}")
        print(
            f"{len(measured)} measured requests to the app ({args.warmup} warm-up), "
            f"{args.concurrency} concurrent, {args.rounds} interleaved chunks, the app's code "
            f"from {code[0] if code else ROOT}; load average "
            f"before: {load[0]:.2f}, after: {os.getloadavg()[0]:.2f}"
        )
        print()
        print(
            "| server | requests | req/s | p50 ms | p95 ms | p99 ms | max ms "
            "| server CPU ms/req (of it system) | ok |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(row("app: `/slack/events` → gate → submit (PostgreSQL)", results["app"]))
        print(row("baseline: signature + one `INSERT` (asyncpg pool)", results["baseline"]))
        print(row("bare: aiohttp + `SignatureVerifier` only", results["bare"]))
        print(row("job: signature, once per person, answer apart, receipt", results["job"]))
        print()
        print(
            f"app/baseline throughput: {rate['app'] / rate['baseline']:.2f} (target ≥ 1.00); "
            f"p99 app {p99['app']:.1f} ms, baseline {p99['baseline']:.1f} ms (target: app ≤ "
            f"baseline); app/bare throughput: {rate['app'] / rate['bare']:.2f}"
        )
        cpu = {k: v.cpu / len(v.latencies) for k, v in results.items()}
        print(
            f"app/job throughput: {rate['app'] / rate['job']:.2f}; p99 job {p99['job']:.1f} ms; "
            f"CPU per request app/job: {cpu['app'] / cpu['job']:.2f}"
        )
        print(
            f"submissions stored: {stored} (who answered, written so far in batches of at least "
            f"k: {respondents}; sent {len(bodies)}); baseline rows: {baseline_rows}"
        )
        print(f"app's group commit: {batches}")
        for key, sample in results.items():
            bad = {k: v for k, v in sample.statuses.items() if k != "ok"}
            if bad:
                print(f"{key} failures: {bad}")
        print(f"server logs: {logs}")
    finally:
        for child in reversed(children):
            child.stop()
        admin = await asyncpg.connect(base)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--people", type=int, default=51, help="members per team")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved chunks")
    parser.add_argument(
        "--workers", type=int, default=1, help="the app's TEAMPULSE_WORKERS (processes)"
    )
    parser.add_argument("--pid-file", help="write the app server's pid here (for py-spy)")
    parser.add_argument("--code", help="serve the app from this checkout (an older one, say)")
    parser.add_argument("--db-prefix", default="tp_slack_ingest_", help="scratch database name")
    args = parser.parse_args()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
