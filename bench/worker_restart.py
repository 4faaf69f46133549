"""What one worker's death costs: ``teampulse serve`` with ``--workers`` processes on a fresh
PostgreSQL database, under steady load, one worker SIGKILLed (as the kernel's OOM killer would).

The load is ``--concurrency`` client tasks, each sending ``GET /readyz`` (a database round trip)
back to back over its own keep-alive connection, for ``--seconds`` in all; the kill comes a third
of the way in.  Reported: requests answered and failed, the outage (first failure to the last
failure), how long until a worker is serving again in the dead one's place (the replacement's
"teampulse … on http" start-up line), and whether the server itself stayed up.

``--code DIR`` runs the server from another checkout (its ``PYTHONPATH``): to compare with a
version whose server stops when a worker dies, the bench then restarts the whole server at once,
as systemd's ``Restart=always`` would.

Usage::

    .venv/bin/python bench/worker_restart.py --workers 2 --concurrency 8 --seconds 30
    .venv/bin/python bench/worker_restart.py --code ../old-checkout   # the same, older code
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.databases import scratch_database
from tests.fake_slack import TOKEN, FakeSlack

TEAMPULSE = Path(sys.executable).parent / "teampulse"
STARTED = b"teampulse (platform) on http"


@dataclass
class Run:
    ok: int = 0
    failed: list[float] = field(default_factory=list)  # when each failure happened
    started: list[float] = field(default_factory=list)  # each worker's start-up line
    restarts: int = 0
    exited: list[float] = field(default_factory=list)  # when the whole server exited


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(url: str, fake: FakeSlack, port: int, args: argparse.Namespace) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "Microsoft"))}
    if args.code:
        keep["PYTHONPATH"] = str(Path(args.code).resolve())
    return {
        **keep,
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": "bench-signing-secret",
        "SLACK_API_URL": fake.api_url,
        "TEAMPULSE_SECRET": "bench-secret-not-for-production",
        "TEAMPULSE_HOST": "127.0.0.1",
        "PORT": str(port),
        "TEAMPULSE_WORKERS": str(args.workers),
    }


async def start(env: dict[str, str], run: Run) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        str(TEAMPULSE),
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )

    async def watch() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            if STARTED in line:
                run.started.append(time.monotonic())

    asyncio.get_running_loop().create_task(watch())
    return process


def workers(pid: int) -> list[int]:
    """The server's worker processes (spawned ones of the older supervisor: not its resource
    tracker)."""
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    spawned = [p for p in children if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return spawned or children


async def load(url: str, until: float, run: Run) -> None:
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < until:
            try:
                async with http.get(url + "/readyz") as response:
                    await response.read()
                    if response.status == 200:
                        run.ok += 1
                        continue
            except aiohttp.ClientError:
                pass
            run.failed.append(time.monotonic())
            await asyncio.sleep(0.01)  # a refused connect returns at once: don't spin


async def main(args: argparse.Namespace) -> None:
    fake = FakeSlack()
    await fake.start()
    async with scratch_database("postgresql", Path("."), name="restart") as url:
        port = free_port()
        env = environment(url, fake, port, args)
        run = Run()
        process = await start(env, run)
        while len(run.started) < args.workers:
            await asyncio.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        begin = time.monotonic()
        end = begin + args.seconds
        clients = [asyncio.create_task(load(base, end, run)) for _ in range(args.concurrency)]
        await asyncio.sleep(args.seconds / 3)
        victim = workers(process.pid)[0]
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        while time.monotonic() < end:  # the old supervisor exits: restart it, as systemd would
            if process.returncode is not None:
                run.exited.append(time.monotonic())
                run.restarts += 1
                process = await start(env, run)
            await asyncio.sleep(0.05)
        await asyncio.gather(*clients)
        back = [t - killed for t in run.started if t > killed]
        stayed_up = run.restarts == 0 and process.returncode is None
        process.send_signal(signal.SIGTERM)
        await process.wait()
    await fake.stop()
    outage = (run.failed[-1] - run.failed[0]) if run.failed else 0.0
    needed = 1 if stayed_up else args.workers
    print(
        f"code: {args.code or 'this checkout'}; workers {args.workers}, clients {args.concurrency}"
    )
    print(f"answered {run.ok}, failed {len(run.failed)}, outage {outage * 1000:.0f} ms")
    print(f"server stayed up: {stayed_up} (restarts of the whole server: {run.restarts})")
    for when in run.exited:
        print(f"the whole server exited {(when - killed) * 1000:.0f} ms after the kill")
    if len(back) >= needed:
        print(f"serving again in the dead worker's place after {back[needed - 1] * 1000:.0f} ms")
    else:
        print(f"not serving again within the run ({len(back)} of {needed} workers started)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--code", default=None, help="run the server from this checkout")
    if "TEST_DATABASE_URL" not in os.environ:
        os.environ["TEST_DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    asyncio.run(main(parser.parse_args()))
