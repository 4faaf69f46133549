"""Teams ingest benchmark: Bot Framework activities with signed tokens into the running server on
PostgreSQL, beside a bare handler that checks the same tokens and commits one INSERT each.

One run, interleaved (baseline, app, baseline, app, baseline with the default two rounds):

* ``app``: ``teampulse serve`` itself (Teams with an app id, so every request's token is checked
  by botbuilder; the scheduler and the access log on) on a fresh PostgreSQL database.  The Bot
  Framework's signing keys come from OpenID metadata and a JWKS that this process serves for a
  locally generated RSA key (``TEAMPULSE_TEAMS_OPENID_METADATA_URL``), from a thread: botbuilder
  fetches them with a blocking call.  Replies go to the tests' fake Bot Connector
  (``tests/fake_teams.py``, the activities' ``serviceUrl``) in another process;
* ``bare``: ``bench/teams_processes.py bare``, an aiohttp handler that verifies the same token
  with PyJWT and the same JWKS key (issuer, audience, expiry, ``serviceurl``) and commits each
  body with one INSERT through an asyncpg pool;
* ``job`` (card submissions only): ``bench/teams_processes.py job``, the simplest server that
  does the whole job a person sees: the same token check, the card's round and answers, who
  answered kept apart from the answer in one transaction (once per person and round), and the
  receipt card in the invoke's answer; no invitation check, mood, ledger or log lines.

What the app is sent (``--activity``):

* ``invoke`` (the default: the hot path when a pulse opens): a pulse card's submission, as Teams
  sends an ``Action.Execute``: an ``invoke`` named ``adaptiveCard/action`` whose ``value.action``
  has verb ``pulse.submit`` and data = the card's form (``bot.cards.CardForm``) merged with the
  chosen answers, the comment and "About".  Handled when the answer is 200 with the receipt card
  ("<team> pulse: answered") in the invoke response; nothing is sent to the connector, and the
  bench counts the submissions stored at the end;
* ``text``: the person types ``pulse`` in their 1:1 chat (a ``message`` activity) and the pulse
  comes back through the Bot Connector; 201 once it was sent.  The path:
  the token, the activity recorded once (an INSERT), the person's account looked up, the pulse
  read, the reply sent, the conversation reference stored (an UPSERT).

Set-up (not timed): an organisation of ``--teams`` teams of ``--people`` members under one trust,
a round opened for every team, its outbox marked sent, each person's Teams account stored as a
``PlatformIdentity`` (as the delivery stores it), so no member lookup is needed.  One channel
token goes with every request (a channel reuses its token until it expires).  The bot's own token
for its replies comes from the tests' fake Azure AD token service (``tests/fake_aad.py``, over
TLS), which this process serves: the app is pointed at it by configuration
(``TEAMPULSE_TEAMS_LOGIN_URL``, and ``REQUESTS_CA_BUNDLE`` for its certificate), and the bench
reports how many tokens it issued.

The interleaving: every server gets the same warm-up (which also loads the Bot Framework SDK and,
with the first comment, TextBlob), the bench waits for each to go quiet, prints ``warmed up;
measuring`` (start a profiler on ``--pid-file``'s pid then), and runs the turns, waiting for each
server to go idle before the next.  The report's last line is what issue 13 asks for: the app's
throughput over the bare handler's, and both p99s, from the same run; then the same against the
whole-job server.

Usage::

    .venv/bin/python bench/teams_ingest.py                   # card submissions (invoke)
    .venv/bin/python bench/teams_ingest.py --activity text   # typed messages, replies sent
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from ingest_processes import Child, cpu_split, spawn, spawn_serve, until_quiet  # noqa: E402
from slack_ingest import Sample, org_yaml, percentile, row  # noqa: E402
from teams_processes import (  # noqa: E402
    APP_ID,
    JOB_ANSWERS,
    TABLE,
    channel_token,
    key_server,
)

from tests.fake_aad import FakeAzureAD  # noqa: E402

DEFAULT_ACTIVITY = "invoke"  # the card's submission: the hot path when a pulse opens
PROCESSES = str(Path(__file__).with_name("teams_processes.py"))
APP_SECRET = "bench-not-a-secret"
# the participation key: long enough for serve (bot/safety.py), the same in set-up and server
BENCH_SECRET = "bench-participation-key-not-for-production"
TENANT = "tenant-bench"  # the one tenant served (TEAMPULSE_TEAMS_TENANTS)


# -- set-up ----------------------------------------------------------------------------------------
def account(email: str) -> str:
    return "29:" + email.split("@")[0]


async def prepare(url: str, teams: int, people: int) -> list[tuple[str, int, list[str]]]:
    """Organisation, open rounds, delivered outbox, Teams identities; (email, round, questions)
    for every person, in random order."""
    from sqlalchemy import text

    from bot.service import TeamPulse
    from bot.settings import Settings
    from storage.engine import Database
    from storage.migrate import upgrade
    from surveys.organisation import spec_from_yaml, sync_questions

    await upgrade(url)
    settings = Settings(_env_file=None, DATABASE_URL=url, TEAMPULSE_SECRET=BENCH_SECRET)
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
                "SELECT id, 'teams', '29:' || split_part(email, '@', 1) FROM person"
            )
        )
        await connection.execute(
            text(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, body text NOT NULL)")
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
    people_rounds = []
    for email, round_id, group_index, plan in rows:
        groups = json.loads(plan)
        people_rounds.append((email, round_id, list(groups[group_index % len(groups)])))
    return people_rounds


def _activity(kind: str, n: int, email: str, service_url: str) -> dict[str, Any]:
    """What every activity in the person's 1:1 chat with the bot carries."""
    who = account(email)
    return {
        "type": kind,
        "id": f"f:{n:08d}",
        "timestamp": "2026-11-30T09:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": who, "name": email.split("@")[0], "aadObjectId": f"aad-{who[3:]}"},
        "recipient": {"id": f"28:{APP_ID}", "name": "teampulse"},
        "conversation": {
            "id": f"a:personal-{who[3:]}",
            "conversationType": "personal",
            "tenantId": TENANT,
        },
        "locale": "en-GB",
        "channelData": {"tenant": {"id": TENANT}},
    }


def text_message(n: int, email: str, round_id: int, questions: list[str], url: str) -> str:
    """The person types ``pulse`` (today's path: the pulse comes back through the connector)."""
    return json.dumps(
        {**_activity("message", n, email, url), "text": "pulse", "textFormat": "plain"}
    )


def card_invoke(n: int, email: str, round_id: int, questions: list[str], url: str) -> str:
    """The pulse card's ``Action.Execute``: the card's data merged with the person's inputs."""
    from bot.cards import CardForm
    from bot.forms import ABOUT, COMMENT

    data: dict[str, Any] = {
        "teampulse": "pulse",
        "form": CardForm(round_id, tuple(questions)).dumps(),
    }
    data.update({f"q:{q}": str(1 + (n + i) % 5) for i, q in enumerate(questions)})
    data[COMMENT] = "Handover ran late again but the team pulled together" if n % 4 == 0 else ""
    data[ABOUT] = "general"
    value = {
        "action": {"type": "Action.Execute", "verb": "pulse.submit", "data": data},
        "trigger": "manual",
    }
    return json.dumps(
        {**_activity("invoke", n, email, url), "name": "adaptiveCard/action", "value": value}
    )


def is_receipt(body: bytes) -> bool:
    """An invoke response whose card is the receipt ("<team> pulse: answered")."""
    answer = json.loads(body or b"{}")
    card = answer.get("value")
    if not isinstance(card, dict) or not card.get("body"):
        return False
    first = card["body"][0]
    return (
        answer.get("statusCode") == 200
        and answer.get("type") == "application/vnd.microsoft.card.adaptive"
        and str(first.get("text", "")).endswith("pulse: answered")
    )


Build = Callable[[int, str, int, list[str], str], str]
ACTIVITIES: dict[str, tuple[Build, Callable[[int, bytes], bool]]] = {
    # how each is built, and the app's answer that means it was handled
    "text": (text_message, lambda status, body: status == 201 and body == b""),
    "invoke": (card_invoke, lambda status, body: status == 200 and is_receipt(body)),
}


# -- the load --------------------------------------------------------------------------------------
async def fire(
    url: str,
    bodies: list[str],
    concurrency: int,
    sample: Sample,
    token: str,
    ok: Callable[[int, bytes], bool],
) -> None:
    """Send every body once with ``concurrency`` tasks over as many keep-alive connections."""
    pending = iter(bodies)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for body in pending:
                start = time.perf_counter()
                async with http.post(url + "/api/messages", data=body, headers=headers) as r:
                    answer = await r.read()
                sample.latencies.append(time.perf_counter() - start)
                good = ok(r.status, answer)
                sample.statuses["ok" if good else f"{r.status} {answer[:60]!r}"] += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        sample.seconds += time.perf_counter() - start


def machine(pg_version: str) -> str:
    from importlib.metadata import version

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), Python "
        f"{platform.python_version()}, aiohttp {aiohttp.__version__}, botbuilder "
        f"{version('botbuilder-core')}, {pg_version}"
    )


def report(args: argparse.Namespace, results: dict[str, Sample], pg: str, load: float) -> None:
    app, bare = results["app"], results["bare"]
    print()
    print(f"Machine: {machine('PostgreSQL ' + pg)}")
    print(
        f"app: {len(app.latencies)} measured `{args.activity}` activities; bare: "
        f"{len(bare.latencies)}; {args.warmup} warm-up each; {args.concurrency} concurrent; "
        f"order {' '.join(args.order)}; load average before: {load:.2f}, after: "
        f"{os.getloadavg()[0]:.2f}"
    )
    print()
    print(
        "| server | requests | req/s | p50 ms | p95 ms | p99 ms | max ms "
        "| server CPU ms/req (of it system) | ok |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(row(f"app: `/api/messages`, {args.activity} (PostgreSQL)", app))
    print(row("bare: aiohttp + PyJWT + one INSERT (asyncpg)", bare))
    if "job" in results:
        print(row("job: token, once per person, answer apart, receipt card", results["job"]))
    print()
    app_rate = len(app.latencies) / app.seconds
    bare_rate = len(bare.latencies) / bare.seconds
    print(
        f"app/bare throughput: {app_rate / bare_rate:.2f}; p99 app "
        f"{percentile(app.latencies, 99) * 1000:.1f} ms, bare "
        f"{percentile(bare.latencies, 99) * 1000:.1f} ms"
    )
    if "job" in results:
        job = results["job"]
        print(
            f"app/job throughput: {app_rate / (len(job.latencies) / job.seconds):.2f}; p99 job "
            f"{percentile(job.latencies, 99) * 1000:.1f} ms; CPU per request app/job: "
            f"{(app.cpu / len(app.latencies)) / (job.cpu / len(job.latencies)):.2f}"
        )
    for key, sample in results.items():
        bad = {k: v for k, v in sample.statuses.items() if k != "ok"}
        if bad:
            print(f"{key} failures: {bad}")


async def bench(args: argparse.Namespace) -> None:
    build, app_ok = ACTIVITIES[args.activity]
    bare_status = 200 if args.activity == "invoke" else 201  # (its answer has no card)
    oks = {
        "app": app_ok,
        "bare": lambda status, _body: status == bare_status,
        "job": lambda status, body: status == 200 and is_receipt(body),
    }
    base = args.pg_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"{args.db_prefix}{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base)
    pg_version = str(await admin.fetchval("SHOW server_version"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
    dsn = base.rsplit("/", 1)[0] + f"/{name}"
    logs = Path(tempfile.mkdtemp(prefix="teams_ingest_"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    children: list[Child] = []
    aad = FakeAzureAD(APP_ID, APP_SECRET)  # the app's own token, from this process
    try:
        started = time.perf_counter()
        people = await prepare(url, args.teams, args.people)
        print(f"set-up: {len(people)} people, {time.perf_counter() - started:.1f} s", flush=True)
        with key_server(key) as keys:
            fake = spawn("fake", {}, logs / "fake.log", PROCESSES)
            children.append(fake)
            service_url = fake.url + "/"
            bodies = [build(n, *person, service_url) for n, person in enumerate(people)]
            await aad.start()
            env = {
                "DATABASE_URL": url,
                "MicrosoftAppId": APP_ID,
                "MicrosoftAppPassword": APP_SECRET,
                "TEAMPULSE_TEAMS_OPENID_METADATA_URL": keys + "/openid",
                "TEAMPULSE_TEAMS_LOGIN_URL": aad.authority,
                "REQUESTS_CA_BUNDLE": aad.ca_file,
                "TEAMPULSE_SECRET": BENCH_SECRET,
                "TEAMPULSE_TEAMS_TENANTS": TENANT,
            }
            if args.workers > 1:
                env["TEAMPULSE_WORKERS"] = str(args.workers)
            code = (str(Path(args.code).resolve()),) if args.code else ()
            app = await spawn_serve(env, logs / "app.log", code)
            children.append(app)
            bare_env = {
                "BENCH_APP_ID": APP_ID,
                "BENCH_JWKS_URL": keys + "/keys",
                "BENCH_PG_DSN": dsn,
            }
            bare = spawn("bare", bare_env, logs / "bare.log", PROCESSES)
            children.append(bare)
            servers = {"app": app, "bare": bare}
            if args.activity == "invoke":
                servers["job"] = spawn("job", bare_env, logs / "job.log", PROCESSES)
                children.append(servers["job"])
            token = channel_token(key, service_url)
            gc.collect()
            gc.freeze()  # the load generator's own full collections would stall its clock
            if args.pid_file:
                Path(args.pid_file).write_text(str(app.process.pid))
            load = os.getloadavg()[0]
            warm, measured = bodies[: args.warmup], bodies[args.warmup :]
            for key_name, child in servers.items():
                await fire(child.url, warm, args.concurrency, Sample(), token, oks[key_name])
                await until_quiet(child.process.pid)  # (the SDK's and TextBlob's first loads)
            print("warmed up; measuring", flush=True)  # (a profiler can start now)
            results = {key_name: Sample() for key_name in servers}
            size = -(-len(measured) // args.rounds)
            chunks = [measured[i : i + size] for i in range(0, len(measured), size)]
            # baseline, app, baseline, app, …, baseline: the bare handler runs the same bodies;
            # the whole-job server before each app turn, on its chunk (once: it keeps who answered)
            before = ["job"] if "job" in servers else []
            turns = [("bare", chunks[0])]
            turns += [
                t
                for i, chunk in enumerate(chunks)
                for t in (
                    *((name, chunk) for name in before),
                    ("app", chunk),
                    ("bare", chunks[(i + 1) % len(chunks)]),
                )
            ]
            args.order = [name for name, _ in turns]
            for key_name, chunk in turns:
                child = servers[key_name]
                user, system = cpu_split(child.process.pid)
                sample = results[key_name]
                await fire(child.url, chunk, args.concurrency, sample, token, oks[key_name])
                await until_quiet(child.process.pid)
                user_after, system_after = cpu_split(child.process.pid)
                sample.cpu += user_after + system_after - user - system
                sample.system += system_after - system
            report(args, results, pg_version, load)
            admin = await asyncpg.connect(dsn)
            stored = await admin.fetchval("SELECT count(DISTINCT submission_id) FROM response")
            events = await admin.fetchval("SELECT count(*) FROM inbound_event")
            inserted = await admin.fetchval(f"SELECT count(*) FROM {TABLE}")
            jobs = await admin.fetchval(f"SELECT to_regclass('{JOB_ANSWERS}') IS NOT NULL")
            done = await admin.fetchval(f"SELECT count(*) FROM {JOB_ANSWERS}") if jobs else 0
            await admin.close()
            print(
                f"stored: {stored} pulse submissions, {events} inbound activities recorded "
                f"by the app; {inserted} rows inserted by the bare handler; {done} answers "
                "stored by the whole-job server"
            )
    finally:
        for child in reversed(children):
            child.stop()
        await aad.stop()
        admin = await asyncpg.connect(base)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        f"the app asked Azure AD for its own token {len(aad.calls)} times "
        f"({len(aad.tokens_issued)} issued)"
    )
    print(f"server logs: {logs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--activity", choices=sorted(ACTIVITIES), default=DEFAULT_ACTIVITY)
    parser.add_argument("--teams", type=int, default=60)
    parser.add_argument("--people", type=int, default=51, help="members per team")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="app chunks (baseline around each)")
    parser.add_argument("--workers", type=int, default=1, help="the app's TEAMPULSE_WORKERS")
    parser.add_argument("--pid-file", help="write the app server's pid here (for py-spy)")
    parser.add_argument("--code", help="serve the app from this checkout (an older one, say)")
    parser.add_argument("--db-prefix", default="tp_teams_", help="scratch database name")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
