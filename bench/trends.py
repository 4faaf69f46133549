"""Trend report benchmark: one team's ``pulse trends`` report against a hand-written SQL aggregate.

For each size and backend it builds, in a fresh database migrated with ``storage.migrate.upgrade``:

* an organisation of 2,021 teams: 1 trust -> 20 directorates -> 100 wards each (the 2,000 wards
  answer pulses), about 28,000 people and their memberships, and the question bank synced with
  ``surveys.organisation.sync_questions``;
* 52 weeks of closed weekly pulses: one ``pulse_round`` per ward and week (104,000 rounds), its
  ``participation`` row, one ``delivery`` row per ward member (so "invited" is real), some kudos,
  and N ``response`` rows (random ids; 3 to 5 answers per submission; scores 1-5; some comments
  with their TextBlob polarity).  Rows are written in bulk (sqlite3 ``executemany``, asyncpg
  ``COPY``), not through the submit path;
* the published rollups, rebuilt week by week with ``surveys.rollup.rebuild_weeks`` as closing a
  week's rounds does (timed: that is the cost paid at round close).

Then it times, interleaved in the same run, for one ward (and, with fewer runs, its directorate and
the trust):

* ``report``: ``surveys.trends.team_trend`` (what ``pulse trends`` computes);
* ``chat``: ``Conversation.handle(manager, "pulse trends")``, the whole command without the chart
  (the PNG is rendered off the request path; its time is printed separately);
* ``baseline``: one hand-written SQL statement aggregating the same teams' responses of the same
  24 weeks (12 reported + 12 compared) by week and theme, straight from ``response``;
* ``command_baseline``, the chat command's yardstick, doing the command's essential work in
  hand-written SQL: who is asking and the team they manage with its member count (the size
  check), the same aggregate, and the kudos received and given by value over the 12 weeks
  straight from ``recognition`` (``trends_checks.MANAGER_SQL``, ``KUDOS_SQL``; checked against
  what the command shows before it is timed).

The measured ward has the same shape at every size (16 people; 10-14 of them answer 4 questions
each week; its own random stream), so its rows are identical at 100,000 and 1,000,000 responses;
the other rows are spread over the other 1,999 wards.  The table grows; the team does not.

Usage::

    .venv/bin/python bench/trends.py --sizes 100000,1000000 --backends sqlite,postgresql --runs 50

The parts: ``trends_data.py`` (the organisation, its weeks and rows), ``trends_backends.py``
(SQLite or PostgreSQL, loaded in bulk), ``trends_checks.py`` (the baseline, row counts, rollup
check, plans), ``trends_report.py`` (the results and their tables); this file builds and times.

PostgreSQL: ``--pg-url`` names the server (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/
postgres``); a fresh database is created for each size and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from trends_backends import Backend, PostgreSQL, SQLite  # noqa: E402
from trends_checks import (  # noqa: E402
    KUDOS_SQL,
    MANAGER_SQL,
    Scope,
    baseline_sql,
    check_command_baseline,
    check_rollups,
    count,
    count_in,
    explain,
    period_start,
    previous_start,
    statements_of,
)
from trends_data import (  # noqa: E402  (bench/ is on sys.path when run as a script)
    FIRST_MONDAY,
    MIN_COMMENT_GROUP,
    MIN_GROUP,
    REPORT_WEEKS,
    TODAY,
    TRUST_ID,
    WEEKS,
    Generator,
    Org,
    org_rows,
    plan_org,
)
from trends_report import (  # noqa: E402
    RunResult,
    ScopeResult,
    Timing,
    jsonable,
    load_average,
    machine,
    tables,
)

import bot.conversation as conversation_module  # noqa: E402
from bot.charts import render_chart  # noqa: E402
from bot.conversation import Conversation  # noqa: E402
from bot.service import TeamPulse  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.views import TrendReportView, View  # noqa: E402
from storage.engine import Database  # noqa: E402
from surveys.anonymity import Thresholds  # noqa: E402
from surveys.organisation import sync_questions  # noqa: E402
from surveys.rollup import rebuild_weeks  # noqa: E402
from surveys.trends import TrendSummary, team_trend  # noqa: E402


async def _no_chart(summary: TrendSummary, team: str) -> bytes:
    return b""


@asynccontextmanager
async def chart_off() -> Any:
    names = vars(conversation_module)
    saved = names["render_chart"]
    names["render_chart"] = _no_chart
    try:
        yield
    finally:
        names["render_chart"] = saved


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def build(backend: Backend, org: Org) -> float:
    """Load everything; returns the seconds it took (generation + inserts)."""
    started = time.perf_counter()
    db = Database(backend.url)
    try:
        async with db.session() as session:
            await sync_questions(session)
            await session.commit()
    finally:
        await db.dispose()
    fmt = backend.formats()
    await backend.open_loader()
    await backend.load(org_rows(org, fmt))
    generator = Generator(org, fmt)
    loop = asyncio.get_running_loop()
    # Generate the next week in a thread while this one is written.
    pending = loop.run_in_executor(None, generator.week, 0)
    for week in range(WEEKS):
        rows = await pending
        if week + 1 < WEEKS:
            pending = loop.run_in_executor(None, generator.week, week + 1)
        await backend.load(rows)
    await backend.finish_load()
    return time.perf_counter() - started


async def rebuild(db: Database) -> list[float]:
    """Each week's rollups in its own transaction, as closing that week's rounds does."""
    times = []
    for week in range(WEEKS):
        monday = FIRST_MONDAY + timedelta(weeks=week)
        started = time.perf_counter()
        async with db.session() as session:
            await rebuild_weeks(session, {monday}, Thresholds(MIN_GROUP, MIN_COMMENT_GROUP))
            await session.commit()
        times.append(time.perf_counter() - started)
    return times


async def run_scope(
    backend: Backend,
    db: Database,
    service: TeamPulse,
    scope: Scope,
    runs: int,
    warmup: int,
    budget: float,
) -> ScopeResult:
    thresholds = Thresholds(MIN_GROUP, MIN_COMMENT_GROUP)
    chat = Conversation(service)
    query = baseline_sql(backend)
    params = {"teams": scope.subtree, "since": previous_start(), "closed": True}
    # Only the ward is asked as in the issue (team_ids=[team]); a parent's report gets its subtree.
    team_ids = scope.subtree

    async def report() -> None:
        async with db.session() as session:
            await team_trend(
                session, scope.team_id, len(team_ids) > 1, REPORT_WEEKS, TODAY, thresholds
            )

    async def conversation() -> None:
        views: list[View] = await chat.handle(scope.manager, "pulse trends")
        assert isinstance(views[0], TrendReportView), views

    async def baseline() -> None:
        async with db.session() as session:
            connection = await session.connection()
            (await connection.execute(query, params)).all()

    kudos = {"teams": scope.subtree, "since": period_start()}

    async def command_baseline() -> None:
        async with db.session() as session:
            connection = await session.connection()
            (await connection.execute(MANAGER_SQL, {"email": scope.manager})).one()
            (await connection.execute(query, params)).all()
            (await connection.execute(KUDOS_SQL, kudos)).all()

    await check_command_baseline(db, scope, REPORT_WEEKS, TODAY)
    timings = {k: Timing() for k in ("report", "chat", "baseline", "command_baseline")}
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("report", report),
        ("baseline", baseline),
        ("chat", conversation),
        ("command_baseline", command_baseline),
    ]
    async with chart_off():
        for _ in range(warmup):
            for _, step in steps:
                await step()
        started = time.perf_counter()
        for _ in range(runs):
            for name, step in steps:
                began = time.perf_counter()
                await step()
                timings[name].samples.append(time.perf_counter() - began)
            if time.perf_counter() - started > budget and len(timings["report"].samples) >= 3:
                break

    async with db.session() as session:
        connection = await session.connection()
        groups = (await connection.execute(query, params)).all()
    since = previous_start()
    async with db.session() as session:
        summary = await team_trend(
            session, scope.team_id, len(team_ids) > 1, REPORT_WEEKS, TODAY, thresholds
        )
    shown, total = len(summary.comments), summary.comment_total
    async with chart_off():
        statements = {
            "report": await statements_of(db, report),
            "chat": await statements_of(db, conversation),
        }
    return ScopeResult(
        scope=scope.label,
        teams=len(scope.subtree),
        report=timings["report"],
        chat=timings["chat"],
        baseline=timings["baseline"],
        command_baseline=timings["command_baseline"],
        statements=statements,
        comments_shown=shown,
        comments_total=total,
        baseline_rows=await count_in(db, scope.subtree, since),
        baseline_groups=len(groups),
    )


async def run_one(args: argparse.Namespace, backend: Backend, size: int) -> RunResult:
    org = plan_org(size, args.seed)
    log(f"{backend.name} {size:,}: creating the database")
    await backend.create()
    try:
        load_s = await build(backend, org)
        log(f"{backend.name} {size:,}: loaded in {load_s:.1f} s")
        await backend.analyze()
        db = Database(backend.url)
        try:
            weekly = await rebuild(db)
            log(f"{backend.name} {size:,}: rollups rebuilt in {sum(weekly):.1f} s")
            await backend.analyze()
            responses = await count(db, "SELECT count(*) FROM response")
            deliveries = await count(db, "SELECT count(*) FROM delivery")
            rounds = await count(db, "SELECT count(*) FROM pulse_round")
            assert responses == size, (responses, size)
            settings = Settings(
                _env_file=None,
                DATABASE_URL=backend.url,
                TEAMPULSE_SECRET="bench-secret",
                TEAMPULSE_MIN_GROUP=MIN_GROUP,
                TEAMPULSE_MIN_COMMENT_GROUP=MIN_COMMENT_GROUP,
                # one manager asks 55+ times a minute here: the per-person limit is not measured
                TEAMPULSE_COMMANDS_PER_MINUTE=10_000,
            )
            now = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=12)
            service = TeamPulse(db, settings, clock=lambda: now)
            focus = org.focus
            parent = focus.parent_id
            scopes = [Scope("ward", focus.team_id, [focus.team_id], org.manager_of(focus.team_id))]
            if args.parents:
                scopes += [
                    Scope("directorate", parent, org.subtree(parent), org.manager_of(parent)),
                    Scope("trust", TRUST_ID, org.subtree(TRUST_ID), org.manager_of(TRUST_ID)),
                ]
            await check_rollups(backend, db, scopes[0])
            results = []
            for scope in scopes:
                ward = scope.label == "ward"
                runs = args.runs if ward else min(args.runs, args.parent_runs)
                warmup = args.warmup if ward else min(args.warmup, 1)
                results.append(
                    await run_scope(backend, db, service, scope, runs, warmup, args.budget)
                )
                log(f"{backend.name} {size:,}: {scope.label} timed")
            chart_ms = await time_chart(db, focus.team_id)
            plans = {}
            if args.explain:
                plans["ward"] = await explain(backend, db, scopes[0])
            return RunResult(
                backend=backend.name,
                size=size,
                responses=responses,
                deliveries=deliveries,
                rounds=rounds,
                load_s=load_s,
                rebuild_s=sum(weekly),
                rebuild_week_median_s=statistics.median(weekly),
                rebuild_week_max_s=max(weekly),
                db_mb=await backend.size_bytes() / 1e6,
                chart_ms=chart_ms,
                server=await backend.version(),
                scopes=results,
                plans=plans,
            )
        finally:
            await db.dispose()
    finally:
        if args.keep:
            log(f"kept {backend.url}")
        else:
            await backend.drop()


async def time_chart(db: Database, team_id: int) -> float:
    async with db.session() as session:
        thresholds = Thresholds(MIN_GROUP, MIN_COMMENT_GROUP)
        summary = await team_trend(session, team_id, False, REPORT_WEEKS, TODAY, thresholds)
    samples = []
    for _ in range(5):
        began = time.perf_counter()
        await render_chart(summary, "Ward 0001")
        samples.append(time.perf_counter() - began)
    return 1000 * statistics.median(samples[1:])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="responses, comma-separated")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    parser.add_argument(
        "--budget", type=float, default=20.0, help="stop a measurement after this many seconds"
    )
    parser.add_argument(
        "--parents",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the ward's directorate and the trust",
    )
    parser.add_argument("--parent-runs", type=int, default=20, help="runs for those")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server to create the throwaway databases on",
    )
    parser.add_argument("--explain", action="store_true", help="print the query plans too")
    parser.add_argument("--keep", action="store_true", help="keep the databases (prints where)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(names) - {"sqlite", "postgresql"}
    if unknown:
        raise SystemExit(f"--backends: unknown {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    log(f"load average at the start {load_average()}")
    results: list[RunResult] = []
    for name in names:
        for size in sizes:
            backend: Backend = SQLite() if name == "sqlite" else PostgreSQL(args.pg_url)
            results.append(await run_one(args, backend, size))
    servers = ", ".join(sorted({run.server for run in results}))
    print(f"Machine: {machine()}; {servers}; load average at the end {load_average()}\n")
    print("".join(tables(results)))
    for run in results:
        for label, plans in run.plans.items():
            print(f"\nPlans, {run.backend} {run.responses:,}, {label} report and baseline:\n")
            for plan in plans:
                print(plan)
    print(f"\nTotal: {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([jsonable(r) for r in results], indent=2, default=str))


if __name__ == "__main__":
    asyncio.run(main())
