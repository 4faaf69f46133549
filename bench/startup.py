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
deployment, not its very first start.  Python's bytecode is cached (in the bench's own folder,
``PYTHONPYCACHEPREFIX``) by that start too, as an installed wheel's is at install: with
``PYTHONDONTWRITEBYTECODE`` set, a checkout's ~110 modules would be compiled at every start.
Median, min and max per configuration are printed, with the load average before and after (the
machine may be shared).

Usage::

    .venv/bin/python bench/startup.py --runs 7
    .venv/bin/python bench/startup.py --runs 7 --code ../old-checkout   # the same, older code
    .venv/bin/python bench/startup.py --only local --importtime   # where the start-up time goes
    .venv/bin/python bench/startup.py --only platforms --settle 5  # and 5 s after the first 200
    .venv/bin/python bench/startup.py --code . --code ../main   # both, interleaved start by start
    .venv/bin/python bench/startup.py --only platforms --first-slack   # Slack's first command
    .venv/bin/python bench/startup.py --only local --first-comment     # the first comment's cost

``--code`` given more than once starts each checkout in turn (A, B, A, B, ...), on the same
database, so that other work on a shared machine sways them alike.  ``--first-slack`` makes the
server's first request a signed slash command, sent as soon as the server accepts connections
(before any health check), and reports how long its answer took: the request that waits for
the Slack adapter's late imports (``adapters/slack/on_demand.py``), against Slack's 3 s.
``--first-comment`` (local) has someone answer their pulse with a comment in the web chat once
the server is healthy, and reports that answer's time, the CPU the server spent on it and its
``VmRSS`` after: the cost of a server's first comment's mood (``surveys/mood.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from slack_sdk.signature import SignatureVerifier

TEAMPULSE = Path(sys.executable).parent / "teampulse"
READY_WITHIN = 120.0  # seconds before a run is called failed
SECRET = "bench-secret-not-for-production-0123456789"
SIGNING_SECRET = "bench-signing-secret"


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    rss_mb: float
    hwm_mb: float
    settled_cpu: float = 0.0  # ``--settle``: CPU time and VmRSS that many seconds later
    settled_rss: float = 0.0
    command_seconds: float = 0.0  # ``--first-slack``: the first request's answer, once listening
    comment_seconds: float = 0.0  # ``--first-comment``: that answer's time, the server's CPU
    comment_cpu: float = 0.0  # for it, and its VmRSS after
    comment_rss: float = 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_env(args: argparse.Namespace, folder: Path) -> dict[str, str]:
    """The caller's environment without any teampulse, platform or database setting."""
    drop = ("SLACK_", "Microsoft", "TEAMPULSE_", "DATABASE_URL", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["HOME"] = str(folder)  # (no user-level configuration from outside)
    # Bytecode cached, as an installed wheel's is, but in the bench's own folder: a caller's
    # PYTHONDONTWRITEBYTECODE would otherwise have every start compile a checkout's sources
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env


def with_code(env: dict[str, str], code: str | None) -> dict[str, str]:
    """``env`` serving from checkout ``code`` (its PYTHONPATH; None: as the caller's)."""
    return {**env, "PYTHONPATH": str(Path(code).resolve())} if code else env


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
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
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


class AnySlackCall(BaseHTTPRequestHandler):
    """A stand-in for Slack's Web API for ``--first-slack``: every call is ``ok`` (Bolt's
    ``auth.test`` before it dispatches the first request; the listener's calls after the ack)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = b'{"ok": true, "team_id": "TBENCH", "user_id": "UBOT", "bot_id": "BBENCH"}'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:  # (the server was stopped while its listener was still calling)
            pass

    do_GET = do_POST

    def log_message(self, *_args: object) -> None:
        pass


def fake_slack_api() -> str:
    """``AnySlackCall`` on a free port, in a daemon thread: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), AnySlackCall)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/api/"


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def first_command(port: int, log: Path) -> float:
    """Seconds to answer a signed ``/pulse help``, and its status checked (Slack's ack)."""
    body = urlencode(
        {"command": "/pulse", "text": "help", "user_id": "UBENCH", "team_id": "TBENCH"}
        | {"channel_id": "DBENCH", "response_url": "http://127.0.0.1:9/respond"}
    )
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": str(signature)}
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    began = time.monotonic()
    try:
        connection.request("POST", "/slack/events", body=body, headers=headers)
        status = connection.getresponse().status
    finally:
        connection.close()
    if status != 200:
        raise SystemExit(f"the first Slack command got {status}:\n{log.read_text()[-3000:]}")
    return time.monotonic() - began


def web_chat(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A call of the local web chat's API, with the token its page carries."""
    origin = f"http://127.0.0.1:{port}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/", headers={"Host": f"127.0.0.1:{port}"})
        page = connection.getresponse().read().decode()
        token = page.split('"teampulse-token" content="', 1)[1].split('"', 1)[0]
        headers = {"X-Teampulse-Token": token, "Origin": origin, "Host": f"127.0.0.1:{port}"}
        headers["Content-Type"] = "application/json"
        connection.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        answer = connection.getresponse()
        replies = json.loads(answer.read())
    finally:
        connection.close()
    if answer.status != 200:
        raise SystemExit(f"the web chat answered {answer.status} to {path}: {replies}")
    return replies["replies"]


def waiting_pulse(port: int, folder: Path) -> tuple[str, dict[str, Any]]:
    """Someone of the demo trust with a pulse to answer, and that pulse."""
    with sqlite3.connect(folder / "local.db") as db:
        people = [email for (email,) in db.execute("SELECT email FROM person ORDER BY id")]
    for person in people:
        inbox = web_chat(port, "GET", f"/local/api/inbox?as={quote(person)}")
        for reply in inbox:
            if reply["type"] == "pulse":
                return person, reply
    raise SystemExit("no one in the demo trust has a pulse left to answer")


def first_comment(port: int, pid: int, folder: Path, sample: Sample) -> None:
    """Someone answers their pulse with a comment: the answer's time, the server's CPU for it
    (its mood: ``surveys/mood.py``) and its memory after, into ``sample``."""
    person, pulse = waiting_pulse(port, folder)
    answers = {question["id"]: 4 for question in pulse["questions"]}
    body = {"as": person, "round_id": pulse["round_id"], "answers": answers}
    body["comments"] = {"": "Handled the night brilliantly, the team pulled together"}
    cpu, began = cpu_seconds(pid), time.monotonic()
    [receipt] = web_chat(port, "POST", "/local/api/pulse", body)
    sample.comment_seconds = time.monotonic() - began
    sample.comment_cpu = cpu_seconds(pid) - cpu
    sample.comment_rss = memory_mb(pid)[0]
    if receipt["type"] != "receipt":
        raise SystemExit(f"the first comment was not saved: {receipt}")


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
    env: dict[str, str],
    folder: Path,
    log_name: str,
    extra: list[str],
    settle: float = 0.0,
    slack_first: bool = False,
    comment_first: bool = False,
) -> Sample:
    port = free_port()
    env = {**env, "PORT": str(port)}
    command = [sys.executable, *extra, str(TEAMPULSE), "serve"]
    with (folder / log_name).open("wb") as log:
        began = time.monotonic()
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=log)
        try:
            answered = 0.0
            if slack_first:  # (the first request is Slack's, not a health check)
                while not listening(port):
                    if process.poll() is not None:
                        raise SystemExit(f"teampulse serve exited; see {folder / log_name}")
                    time.sleep(0.01)  # polling a starting process
                answered = first_command(port, folder / log_name)
            while not healthy(port):
                if process.poll() is not None:
                    raise SystemExit(f"teampulse serve exited; see {folder / log_name}")
                if time.monotonic() - began > READY_WITHIN:
                    raise SystemExit(f"teampulse serve did not answer; see {folder / log_name}")
                time.sleep(0.01)  # polling a starting process
            seconds = time.monotonic() - began
            rss, hwm = memory_mb(process.pid)
            cpu = cpu_seconds(process.pid)
            sample = Sample(seconds, cpu, rss, hwm, command_seconds=answered)
            if settle:  # (what the server loads in the background once it answers)
                time.sleep(settle)
                sample.settled_rss = memory_mb(process.pid)[0]
                sample.settled_cpu = cpu_seconds(process.pid)
            if comment_first:
                first_comment(port, process.pid, folder, sample)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    return sample


def measure(name: str, env: dict[str, str], folder: Path, args: argparse.Namespace) -> None:
    codes = args.code or [None]
    for code in codes:  # migrates (and loads the demo); the first start of each is not counted
        start_once(with_code(env, code), folder, f"{name}-warmup.log", [])
    if args.importtime:
        for n, code in enumerate(codes):
            log = f"{name}-importtime-{n}.log"
            start_once(with_code(env, code), folder, log, ["-X", "importtime"])
            print(f"{name}: import times of {code or 'this checkout'} in {args.keep_logs}/{log}")
    samples: dict[str | None, list[Sample]] = {code: [] for code in codes}
    for i in range(args.runs):  # (interleaved: A, B, A, B, ...)
        for n, code in enumerate(codes):
            log = f"{name}-{n}-{i}.log"
            first = args.first_slack and name == "platforms"
            comment = args.first_comment and name == "local"
            sample = start_once(with_code(env, code), folder, log, [], args.settle, first, comment)
            samples[code].append(sample)
    for code in codes:
        if len(codes) > 1:
            print(f"{name}: {code}")
        report(name, samples[code], args)


def report(name: str, samples: list[Sample], args: argparse.Namespace) -> None:
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
    if args.first_slack and name == "platforms":
        rows.insert(0, ("1st command (s)", [s.command_seconds for s in samples]))
    if args.first_comment and name == "local":
        rows += [
            ("1st comment (s)", [s.comment_seconds for s in samples]),
            ("its CPU (s)", [s.comment_cpu for s in samples]),
            ("VmRSS after (MB)", [s.comment_rss for s in samples]),
        ]
    for label, values in rows:
        print(
            f"{name:9} {label:16} median {statistics.median(values):7.2f}"
            f"  min {min(values):7.2f}  max {max(values):7.2f}  (n={len(values)})"
        )


async def create_database(pg_url: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
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
            url, name = asyncio.run(create_database(args.pg_url, args.db_prefix))
            try:
                env = platforms_env(args, folder, url)
                if args.first_slack:
                    env["SLACK_API_URL"] = fake_slack_api()
                measure("platforms", env, folder, args)
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
    parser.add_argument("--db-prefix", default="tp_startup_", help="of the throwaway database")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="also read CPU time and VmRSS this many seconds after the first 200 (what loads "
        "in the background once the server answers: the Bot Framework SDK)",
    )
    parser.add_argument(
        "--code",
        action="append",
        help="serve from this checkout (its PYTHONPATH); more than once: each in turn, to compare",
    )
    parser.add_argument(
        "--first-slack",
        action="store_true",
        help="platforms: the first request is a signed Slack command, sent once the server "
        "listens; its answer's time is reported",
    )
    parser.add_argument(
        "--first-comment",
        action="store_true",
        help="local: once healthy, someone answers their pulse with a comment in the web chat; "
        "that answer's time, the server's CPU for it and its VmRSS after are reported",
    )
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
