"""Two code trees' ``team_trend`` on one kept database, alternated: ward, directorate and trust.

On a database that ``bench/trends.py --keep`` left, each round runs one child process per code
tree in turn (``PYTHONPATH`` set to that tree, so its ``surveys`` and ``storage`` are the ones
imported). A child times the report of the bench's ward (team 22), its directorate (2) and the
trust (1): one warm-up, then ``--runs`` timed runs each, and prints the medians. Two trees
alternated within one run share the machine's load, so their ratio is what means something.

Usage::

    .venv/bin/python bench/trends.py --sizes 100000 --backends sqlite --runs 1 --warmup 0 \\
        --no-parents --keep
    .venv/bin/python bench/trends_alternate.py \\
        --url sqlite+aiosqlite:////tmp/teampulse-bench-…/bench.db \\
        --trees /path/to/main,/path/to/branch --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCOPES = {"ward": 22, "directorate": 2, "trust": 1}  # bench/trends_data.py's ids


async def child(url: str, runs: int) -> dict[str, float]:
    from datetime import date

    from sqlalchemy import text

    from storage.engine import Database
    from surveys.anonymity import Thresholds
    from surveys.trends import team_trend

    today, thresholds = date(2026, 11, 28), Thresholds(5, 5)  # bench/trends_data.py's
    db = Database(url)
    medians: dict[str, float] = {}
    try:
        for label, team in SCOPES.items():
            async with db.session() as session:
                connection = await session.connection()
                below = text("SELECT id FROM team WHERE id = :t OR parent_id = :t")
                teams = [r[0] for r in await connection.execute(below, {"t": team})]
                if team == 1:
                    teams = [r[0] for r in await connection.execute(text("SELECT id FROM team"))]
            samples = []
            for run in range(runs + 1):
                async with db.session() as session:
                    began = time.perf_counter()
                    await team_trend(session, team, len(teams) > 1, 12, today, thresholds)
                    if run:  # (the first is the warm-up)
                        samples.append(1000 * (time.perf_counter() - began))
            medians[label] = statistics.median(samples)
    finally:
        await db.dispose()
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--trees", default="", help="code trees, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.url, args.runs))))
        return
    for _ in range(args.rounds):
        for tree in args.trees.split(","):
            load = Path("/proc/loadavg").read_text().split()[0]
            env = {**os.environ, "PYTHONPATH": tree}
            command = [sys.executable, __file__, "--child", "--url", args.url]
            out = subprocess.run(
                [*command, "--runs", str(args.runs)], env=env, check=True, stdout=subprocess.PIPE
            )
            medians = json.loads(out.stdout)
            figures = "  ".join(f"{k} {v:7.1f}" for k, v in medians.items())
            print(f"{tree:24} load {load:>5}  {figures} (ms)", flush=True)


if __name__ == "__main__":
    main()
