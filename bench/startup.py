"""How fast ``teampulse serve`` starts and how much memory it holds idle.

Each run starts a fresh ``teampulse serve`` process and measures the time from exec to the first
``200`` on ``GET /healthz`` (polled every 10 ms), then reads the process's ``VmRSS`` (resident
memory now) and ``VmHWM`` (its peak) from ``/proc/PID/status`` and stops it with SIGTERM.
Also its CPU time (user + system) by then, which other work on a shared machine sways less than
the wall time.  Two configurations:

- ``local``: the default (no platform variable: local web chat, SQLite file);
- ``platforms``: Slack (one workspace over HTTP) and Teams configured, on PostgreSQL.

Each configuration gets its own database, migrated (and, for ``local``, given the demo
organisation) by one warm-up start that is not counted: the figures are a restart of an existing
deployment, not its very first start.  Median, min and max per configuration are printed, with
the load average before and after (the machine may be shared).

Usage::

    .venv/bin/python bench/startup.py --runs 7
    .venv/bin/python bench/startup.py --runs 7 --code ../old-checkout   # the same, older code
    .venv/bin/python bench/startup.py --only local --importtime   # where the start-up time goes
    .venv/bin/python bench/startup.py --only platforms --settle 5  # and 5 s after the first 200
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

TEAMPULSE = Path(sys.executable).parent / "teampulse"
READY_WITHIN = 120.0  # seconds before a run is called failed
SECRET = "bench-secret-not-for-production-0123456789"


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    rss_mb: float
    hwm_mb: float
    settled_cpu: float = 0.0  # ``--settle``: CPU time and VmRSS that many seconds later
    settled_rss: float = 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_env(args: argparse.Namespace, folder: Path) -> dict[str, str]:
    """The caller's environment without any teampulse, platform or database setting."""
    drop = ("SLACK_", "Microsoft", "TEAMPULSE_", "DATABASE_URL", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    if args.code:
        env["PYTHONPATH"] = str(Path(args.code).resolve())
    env["HOME"] = str(folder)  # (no user-level configuration from outside)
    return env


def local_env(args: argparse.Namespace, folder: Path) -> dict[str, str]:
    return {
        **base_env(args, folder),
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'local.db'}",
        "TEAMPULSE_HOST": "127.0.0.1",
    }


def platforms_env(args: argparse.Namespace, folder: Path, url: str) -> dict[str, str]:
    """Slack over HTTP and Teams, as a production deployment sets them (nothing is sent at
    start-up, so the platforms' addresses need not answer)."""
    return {
        **base_env(args, folder),
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": "bench-signing-secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "MicrosoftAppId": "00000000-0000-0000-0000-000000000001",
        "MicrosoftAppPassword": "bench-password",
        "TEAMPULSE_TEAMS_TENANTS": "bench-tenant",
        "TEAMPULSE_SECRET": SECRET,
        "TEAMPULSE_HOST": "127.0.0.1",
    }


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def memory_mb(pid: int) -> tuple[float, float]:
    """``VmRSS`` and ``VmHWM`` of ``pid``, in MB (10^6 bytes)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return int(fields["VmRSS"][0]) * 1024 / 1e6, int(fields["VmHWM"][0]) * 1024 / 1e6


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used: less swayed than wall time by other work on
    the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_once(
    env: dict[str, str], folder: Path, log_name: str, extra: list[str], settle: float = 0.0
) -> Sample:
    port = free_port()
    env = {**env, "PORT": str(port)}
    command = [sys.executable, *extra, str(TEAMPULSE), "serve"]
    with (folder / log_name).open("wb") as log:
        began = time.monotonic()
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=log)
        try:
            while not healthy(port):
                if process.poll() is not None:
                    raise SystemExit(f"teampulse serve exited; see {folder / log_name}")
                if time.monotonic() - began > READY_WITHIN:
                    raise SystemExit(f"teampulse serve did not answer; see {folder / log_name}")
                time.sleep(0.01)  # polling a starting process
            seconds = time.monotonic() - began
            rss, hwm = memory_mb(process.pid)
            cpu = cpu_seconds(process.pid)
            sample = Sample(seconds, cpu, rss, hwm)
            if settle:  # (what the server loads in the background once it answers)
                time.sleep(settle)
                sample.settled_rss = memory_mb(process.pid)[0]
                sample.settled_cpu = cpu_seconds(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    return sample


def measure(name: str, env: dict[str, str], folder: Path, args: argparse.Namespace) -> None:
    start_once(env, folder, f"{name}-warmup.log", [])  # migrates (and loads the demo)
    if args.importtime:
        start_once(env, folder, f"{name}-importtime.log", ["-X", "importtime"])
        print(f"{name}: import times in {Path(args.keep_logs) / f'{name}-importtime.log'}")
    runs = range(args.runs)
    samples = [start_once(env, folder, f"{name}-{i}.log", [], args.settle) for i in runs]
    rows = [
        ("to /healthz (s)", [s.seconds for s in samples]),
        ("CPU by then (s)", [s.cpu_seconds for s in samples]),
        ("VmRSS (MB)", [s.rss_mb for s in samples]),
        ("VmHWM (MB)", [s.hwm_mb for s in samples]),
    ]
    if args.settle:
        rows += [
            (f"CPU +{args.settle:g} s (s)", [s.settled_cpu for s in samples]),
            (f"VmRSS +{args.settle:g} s (MB)", [s.settled_rss for s in samples]),
        ]
    for label, values in rows:
        print(
            f"{name:9} {label:16} median {statistics.median(values):7.2f}"
            f"  min {min(values):7.2f}  max {max(values):7.2f}  (n={len(values)})"
        )


async def create_database(pg_url: str) -> tuple[str, str]:
    name = f"tp_startup_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return pg_url.rsplit("/", 1)[0] + f"/{name}", name


async def drop_database(pg_url: str, name: str) -> None:
    admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def main(args: argparse.Namespace) -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="tp-startup-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "local"):
            measure("local", local_env(args, folder), folder, args)
        if args.only in (None, "platforms"):
            url, name = asyncio.run(create_database(args.pg_url))
            try:
                measure("platforms", platforms_env(args, folder, url), folder, args)
            finally:
                asyncio.run(drop_database(args.pg_url, name))
        if args.keep_logs:
            kept = Path(args.keep_logs)
            kept.mkdir(parents=True, exist_ok=True)
            for log in folder.glob("*.log"):
                (kept / log.name).write_bytes(log.read_bytes())
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="measured starts per configuration")
    parser.add_argument("--only", choices=["local", "platforms"], default=None)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="also read CPU time and VmRSS this many seconds after the first 200 (what loads "
        "in the background once the server answers: the Bot Framework SDK)",
    )
    parser.add_argument("--code", help="serve from this checkout (its PYTHONPATH), to compare")
    parser.add_argument(
        "--importtime",
        action="store_true",
        help="one more start under -X importtime (its log kept, in startup-logs/ by default)",
    )
    parser.add_argument("--keep-logs", metavar="DIR", help="copy every run's log here")
    arguments = parser.parse_args()
    if arguments.importtime and not arguments.keep_logs:
        arguments.keep_logs = "startup-logs"
    main(arguments)
