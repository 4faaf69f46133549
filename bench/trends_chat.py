"""``pulse trends`` less its report: what the command itself costs, before and after reading less.

On a database that ``bench/trends.py --keep`` left, for the ward, its directorate and the trust,
interleaved in one run: the hand-written aggregate (``baseline``), the report
(``surveys.trends.team_trend``), the whole command (``chat``, chart stubbed as in bench/trends.py),
and the command with its report replaced by one computed beforehand (``command``: the person,
the permission check, the subtree, the size check and the kudos counts).  ``before`` runs the
command's steps as they were before 2026-11-30 (every team loaded as ORM objects twice, the
members listed to count them), with the same precomputed report, as the yardstick.

Usage::

    .venv/bin/python bench/trends.py --sizes 100000 --backends sqlite --runs 1 --keep
    .venv/bin/python bench/trends_chat.py --url sqlite+aiosqlite:////tmp/teampulse-bench-…/bench.db
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from trends_backends import PostgreSQL, SQLite  # noqa: E402
from trends_checks import baseline_sql, previous_start  # noqa: E402
from trends_data import (  # noqa: E402
    MIN_COMMENT_GROUP,
    MIN_GROUP,
    REPORT_WEEKS,
    TODAY,
    TRUST_ID,
    plan_org,
)

import bot.conversation as conversation_module  # noqa: E402
from bot.conversation import Conversation  # noqa: E402
from bot.service import TeamPulse  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.models import Role  # noqa: E402
from surveys import directory, recognition  # noqa: E402
from surveys.anonymity import Thresholds  # noqa: E402
from surveys.trends import TrendSummary, team_trend  # noqa: E402

THRESHOLDS = Thresholds(MIN_GROUP, MIN_COMMENT_GROUP)


async def _no_chart(summary: TrendSummary, team: str) -> bytes:
    return b""


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def before(db: Database, service: TeamPulse, manager: str, summary: TrendSummary) -> None:
    """The command's reads before 2026-11-30, the report aside."""
    async with db.session() as session:
        person = await service.person(session, manager)
        assert person.id is not None
        managed = await directory.teams_of(session, person.id, Role.MANAGER)
        await directory.teams_in(session, person.organisation_id)  # (manageable_teams)
        team = managed[0]
        assert team.id is not None
        ids = directory.descendants(await directory.all_teams(session), team.id)
        await directory.members(session, team.id)
        since = datetime.combine(summary.period_start, datetime.min.time(), UTC)
        await recognition.counts_by_value(session, ids, since)
        await recognition.counts_by_value(session, ids, since, given=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a database bench/trends.py --keep left")
    parser.add_argument("--size", type=int, default=100_000, help="its --sizes")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    org = plan_org(args.size, 2026)
    backend = SQLite() if args.url.startswith("sqlite") else PostgreSQL(args.url)
    db = Database(args.url)
    settings = Settings(
        _env_file=None,
        DATABASE_URL=args.url,
        TEAMPULSE_SECRET="bench-secret",
        TEAMPULSE_MIN_GROUP=MIN_GROUP,
        TEAMPULSE_MIN_COMMENT_GROUP=MIN_COMMENT_GROUP,
        # one manager asks many times a minute here: the per-person limit is not measured
        TEAMPULSE_COMMANDS_PER_MINUTE=10_000,
    )
    now = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=12)
    service = TeamPulse(db, settings, clock=lambda: now)
    chat = Conversation(service)
    names = vars(conversation_module)
    names["render_chart"] = _no_chart
    real_trend = names["team_trend"]
    print(f"load average at the start {load()}")
    try:
        for label, team in (
            ("ward", org.focus.team_id),
            ("directorate", org.focus.parent_id),
            ("trust", TRUST_ID),
        ):
            manager, subtree = org.manager_of(team), org.subtree(team)
            params = {"teams": subtree, "since": previous_start(), "closed": True}
            async with db.session() as session:
                fixed = await team_trend(
                    session, team, len(subtree) > 1, REPORT_WEEKS, TODAY, THRESHOLDS
                )

            async def precomputed(*_: Any) -> TrendSummary:
                return fixed  # noqa: B023  (called within this iteration only)

            async def baseline() -> None:
                async with db.session() as session:
                    connection = await session.connection()
                    (await connection.execute(baseline_sql(backend), params)).all()  # noqa: B023

            async def report() -> None:
                async with db.session() as session:
                    below = len(subtree) > 1  # noqa: B023
                    await team_trend(session, team, below, REPORT_WEEKS, TODAY, THRESHOLDS)  # noqa: B023

            async def whole() -> None:
                await chat.handle(manager, "pulse trends")  # noqa: B023

            async def command() -> None:
                names["team_trend"] = precomputed
                try:
                    await chat.handle(manager, "pulse trends")  # noqa: B023
                finally:
                    names["team_trend"] = real_trend

            async def old() -> None:
                await before(db, service, manager, fixed)  # noqa: B023

            steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                ("baseline", baseline),
                ("report", report),
                ("chat", whole),
                ("command", command),
                ("before", old),
            ]
            samples: dict[str, list[float]] = {name: [] for name, _ in steps}
            for run in range(args.runs + 1):  # the first round is a warm-up
                for name, step in steps:
                    began = time.perf_counter()
                    await step()
                    if run:
                        samples[name].append(1000 * (time.perf_counter() - began))
            medians = ", ".join(f"{n} {statistics.median(v):.1f}" for n, v in samples.items())
            print(f"{label}: median ms: {medians}; load {load()}", flush=True)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
