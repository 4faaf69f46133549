"""Database pool sizes, side by side: the real Slack adapter in this process delivering a round of
``--people`` to the tests' fake Slack (also in this process), with the server's PostgreSQL pool at
each size given, alternating ``--rounds`` times.  Measured: wall and CPU time of
``deliver_outbox`` and the most connections the pool had handed out at once (counted on the
pool's own checkout and checkin events, exact, not sampled).

Usage::

    .venv/bin/python bench/pool_sizes.py --people 1000 --sizes 10+5 40+20 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bot.server import SERVICE  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from surveys.organisation import spec_from_yaml  # noqa: E402
from tests.fake_slack import TOKEN, FakeSlack  # noqa: E402
from tests.slack_support import SECRET, connected, uid  # noqa: E402
from tests.support import HighWater, email, serve  # noqa: E402


async def one_round(pg: str, people: int, size: int, overflow: int) -> str:
    admin_dsn = pg.replace("postgresql+asyncpg://", "postgresql://")
    name = f"tp_pool_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_dsn + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"{pg}/{name}"
    fake = FakeSlack()
    try:
        await upgrade(url)
        await fake.start()
        crowd = [f"p{i}" for i in range(people)]
        for person in crowd:
            fake.add_user(uid(person), email(person))
        base = Settings(_env_file=None, DATABASE_URL=url, TEAMPULSE_SECRET="bench-" * 8)  # type: ignore[call-arg]
        settings = connected(
            base.model_copy(update={"db_pool_size": size, "db_max_overflow": overflow}),
            fake,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
        )
        running = await serve(settings)
        service = running.app[SERVICE]
        water = HighWater()
        event.listen(service.db.engine.sync_engine, "checkout", water.checkout)
        event.listen(service.db.engine.sync_engine, "checkin", water.checkin)
        members = ", ".join(email(person) for person in crowd)
        org = f"name: Bench\nteams:\n  - name: All\n    members: [{members}]\n"
        await service.import_organisation(spec_from_yaml(org))
        await service.open_round(await service.team_named("All"))
        wall, cpu = time.perf_counter(), time.process_time()
        sent = await service.deliver_outbox()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        await running.runner.cleanup()
    finally:
        await fake.stop()
        admin = await asyncpg.connect(admin_dsn + "/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return (
        f"pool {size}+{overflow}: {sent} sent in {wall:.2f} s ({sent / wall:.0f}/s),"
        f" {1000 * cpu / max(sent, 1):.2f} ms CPU each (server and fake),"
        f" at most {water.most} connections handed out at once;"
        f" load {os.getloadavg()[0]:.1f}"
    )


async def main(args: argparse.Namespace) -> None:
    sizes = [tuple(int(n) for n in size.split("+")) for size in args.sizes]
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # (no .env; the settings are given)
        for _ in range(args.rounds):
            for size, overflow in sizes:
                print(await one_round(args.pg_url, args.people, size, overflow), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--sizes", nargs="+", default=["10+5", "40+20"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    asyncio.run(main(parser.parse_args()))
