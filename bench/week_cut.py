"""How long a week's cut holds the write lock: its two phases, timed on a kept bench database.

``bot/pulse_rounds.cut_week`` computes a week's rows in a read-only session (on SQLite, a snapshot
holding no lock) and writes them in a short transaction that re-checks the week under its lock.
Only the write holds anything an answer needs (SQLite's one write lock).  This bench takes a
database that ``bench/trends.py --keep`` left (every week cut), un-cuts its last ``--weeks`` weeks
(deletes their rows, ``rollup_cut`` and the rounds' ``counted_in`` stamp) and cuts them again one
by one as ``cut_week`` does, timing the computing and the writing apart.  It then checks the rows
are the ones it deleted.  The database is changed only by a cut that writes back what was there.

Usage::

    .venv/bin/python bench/trends.py --sizes 1000000 --backends sqlite --runs 1 --keep
    .venv/bin/python bench/week_cut.py --url sqlite+aiosqlite:////tmp/teampulse-bench-…/bench.db
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from storage.engine import Database  # noqa: E402
from surveys import rollup, rollup_rows  # noqa: E402
from surveys.anonymity import Thresholds  # noqa: E402

TODAY = date(2026, 11, 28)  # as bench/trends.py: every week's rounds have closed
THRESHOLDS = Thresholds(5, 10)
TABLES = ("rollup_cell", "rollup_week")


async def rows_of(db: Database, week: date) -> dict[str, list[Any]]:
    async with db.session() as session:
        connection = await session.connection()
        found = {}
        for table in TABLES:
            query = text(f"SELECT * FROM {table} WHERE week = :w ORDER BY 1, 2, 3")
            found[table] = [tuple(row) for row in (await connection.execute(query, {"w": week}))]
        return found


async def uncut(db: Database, week: date) -> None:
    async with db.session() as session:
        for statement in (
            *(f"DELETE FROM {table} WHERE week = :w" for table in TABLES),
            "DELETE FROM rollup_cut WHERE week = :w",
            "UPDATE pulse_round SET counted_in = NULL WHERE counted_in = :w",
        ):
            await session.exec(text(statement).bindparams(w=week))  # type: ignore[call-overload]
        await session.commit()


async def cut(db: Database, week: date) -> tuple[float, float]:
    """(seconds computing, seconds writing) of one cut, as ``cut_week`` does it."""
    began = time.perf_counter()
    async with db.reading() as reading:
        assert await rollup.due(reading, week, TODAY)
        rows = await rollup_rows.compute_week(reading, week, THRESHOLDS)
    computed = time.perf_counter()
    async with db.session() as session:
        assert await rollup.write_if_unchanged(session, rows, TODAY) is True
        await session.commit()
    return computed - began, time.perf_counter() - computed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a database bench/trends.py --keep left")
    parser.add_argument("--weeks", type=int, default=8, help="the last weeks to cut again")
    args = parser.parse_args()
    db = Database(args.url)
    print(f"load average at the start {Path('/proc/loadavg').read_text().split()[:3]}")
    try:
        async with db.session() as session:
            last = (await session.exec(text("SELECT max(week) FROM rollup_cut"))).scalar_one()  # type: ignore[call-overload]
        last = date.fromisoformat(str(last))
        computing, writing = [], []
        for n in range(args.weeks):
            week = last - timedelta(weeks=n)
            before = await rows_of(db, week)
            await uncut(db, week)
            seconds = await cut(db, week)
            assert await rows_of(db, week) == before, f"week {week}: different rows"
            computing.append(1000 * seconds[0])
            writing.append(1000 * seconds[1])
            print(f"{week}: computing {computing[-1]:.0f} ms, writing {writing[-1]:.0f} ms")
        print(
            f"median of {args.weeks} weeks: computing {statistics.median(computing):.0f} ms "
            f"(max {max(computing):.0f}), writing {statistics.median(writing):.0f} ms "
            f"(max {max(writing):.0f}); rows identical to the first cut's"
        )
        print(f"load average at the end {Path('/proc/loadavg').read_text().split()[:3]}")
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
