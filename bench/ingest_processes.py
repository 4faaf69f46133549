"""The processes of the Slack ingest benchmark (``bench/slack_ingest.py``), and their CPU.

* ``teampulse serve`` itself (``spawn_serve``), healthy before it is used, stopped with SIGTERM;
* the ``baseline`` (the issue's yardstick, the simplest server that loses no answer: slack_sdk's
  ``SignatureVerifier``, then one ``INSERT`` of the body through an asyncpg pool, committed on its
  own, then a 200), the ``bare`` handler (the signature check and a 200, storing nothing) and the
  tests' fake Slack, each run by this file in its own process (``spawn``: ``python
  bench/ingest_processes.py baseline``), printing ``READY <url>`` and stopping when its stdin
  closes;
* ``job``, a second yardstick: the simplest server that does the whole job a person sees
  (``run_job``: who answered kept apart from the answer, one answer per person and round, the
  receipt), run the same way;
* ``cpu_seconds`` of a process tree and ``until_quiet``, so that the work a server does after its
  replies (the receipts) is counted and does not spill into the next server's turn.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

SECRET = "bench-signing-secret-8f742231b10e8888"
BASELINE_TABLE = "bench_baseline_body"  # the baseline's own table, in the bench's database
# asyncpg's default pool size, and the app's own pool before its overflow (bot/settings.py)
BASELINE_POOL = 10


async def _until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def _signed(request: web.Request, verifier: SignatureVerifier) -> tuple[str, bool]:
    """The request's body, and whether its Slack signature is valid."""
    body = (await request.read()).decode("utf-8")
    ok = verifier.is_valid(
        body=body,
        timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
        signature=request.headers.get("X-Slack-Signature", ""),
    )
    return body, ok


async def run_bare() -> None:
    """The comparison: an aiohttp handler that checks the signature and answers 200."""
    verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])

    async def handle(request: web.Request) -> web.Response:
        _, ok = await _signed(request, verifier)
        return web.Response(status=200 if ok else 401)

    await _serve(handle)


async def run_baseline() -> None:
    """The yardstick: check the signature, ``INSERT`` the body (autocommit: one transaction per
    request, acked only once committed), answer 200.  ``BASELINE_URL``: the database (asyncpg's
    own ``postgresql://`` form)."""
    import asyncpg  # type: ignore[import-untyped]

    verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
    pool = await asyncpg.create_pool(
        os.environ["BASELINE_URL"], min_size=BASELINE_POOL, max_size=BASELINE_POOL
    )
    await pool.execute(
        f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} "
        "(id bigserial PRIMARY KEY, body text NOT NULL)"
    )
    insert = f"INSERT INTO {BASELINE_TABLE} (body) VALUES ($1)"

    async def handle(request: web.Request) -> web.Response:
        body, ok = await _signed(request, verifier)
        if not ok:
            return web.Response(status=401)
        await pool.execute(insert, body)
        return web.Response(status=200)

    await _serve(handle)
    await pool.close()


JOB_ANSWERED = "bench_job_answered"  # the whole-job reference's tables
JOB_ANSWERS = "bench_job_answer"


async def job_tables(pool: Any, answered: str, answers: str) -> tuple[str, str]:
    """A whole-job reference's two tables, made if missing: who answered each round (once per
    person) and, apart, the answers; returns the statements that write them (person first)."""
    await pool.execute(
        f"CREATE TABLE IF NOT EXISTS {answered} (round_id bigint, person text, "
        "PRIMARY KEY (round_id, person));"
        f"CREATE TABLE IF NOT EXISTS {answers} (id bigserial PRIMARY KEY, round_id bigint, "
        "answers text NOT NULL)"
    )
    return (
        f"INSERT INTO {answered} VALUES ($1, $2) ON CONFLICT DO NOTHING",
        f"INSERT INTO {answers} (round_id, answers) VALUES ($1, $2)",
    )


async def run_job() -> None:
    """A second yardstick, the simplest server that does the whole job a person sees: the
    signature; the payload read (who, which round, which message); in one transaction, who
    answered kept apart from the answer (a person answers a round once: a second try is told so)
    and the answer stored; 200 once committed; then the pulse message ``chat.update``d into a
    receipt at ``SLACK_API_URL`` (as the app does, after the ack).  No invitation check, mood,
    anonymity ledger or log lines: the app's guarantees beyond that are its own cost."""
    import asyncpg  # type: ignore[import-untyped]

    verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
    pool = await asyncpg.create_pool(
        os.environ["BASELINE_URL"], min_size=BASELINE_POOL, max_size=BASELINE_POOL
    )
    answered, store = await job_tables(pool, JOB_ANSWERED, JOB_ANSWERS)
    slack = aiohttp.ClientSession(os.environ["SLACK_API_URL"].removesuffix("/api/"))
    receipts: set[asyncio.Task[None]] = set()

    async def receipt(channel: str, ts: str) -> None:
        update = {"channel": channel, "ts": ts, "text": "Thanks: your answers are saved."}
        headers = {"Authorization": "Bearer xoxb-test-token"}
        async with slack.post("/api/chat.update", json=update, headers=headers) as response:
            await response.read()

    async def handle(request: web.Request) -> web.Response:
        body, ok = await _signed(request, verifier)
        if not ok:
            return web.Response(status=401)
        payload = json.loads(parse_qs(body)["payload"][0])
        view = payload["view"]
        where = json.loads(view["private_metadata"])
        async with pool.acquire() as connection, connection.transaction():
            first = await connection.execute(answered, where["round"], payload["user"]["id"])
            if first.endswith(" 0"):
                return web.json_response(
                    {"response_action": "errors", "errors": {"q": "Already answered."}}
                )
            await connection.execute(store, where["round"], json.dumps(view["state"]))
        task = asyncio.create_task(receipt(where["channel"], where["ts"]))
        receipts.add(task)
        task.add_done_callback(receipts.discard)
        return web.Response(status=200)

    await _serve(handle)
    await slack.close()
    await pool.close()


async def _serve(handle: Callable[[web.Request], Awaitable[web.Response]]) -> None:
    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"READY http://{host}:{port}", flush=True)
    await _until_stdin_closes()
    await runner.cleanup()


async def run_fake() -> None:
    from tests.fake_slack import FakeSlack

    fake = FakeSlack()
    await fake.start()
    print(f"READY {fake.url}", flush=True)
    await _until_stdin_closes()
    await fake.stop()


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        else:  # teampulse serve: stopped as a service manager stops it
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def spawn(role: str, env: dict[str, str], log: Path, script: str = __file__) -> Child:
    """``python SCRIPT ROLE`` (this file's roles by default), once it has printed its URL."""
    process = subprocess.Popen(
        [sys.executable, script, role],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"{role} did not start; see {log}")
    return Child(role, process, line.removeprefix("READY "))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def spawn_serve(env: dict[str, str], log: Path, python_path: tuple[str, ...] = ()) -> Child:
    """``teampulse serve`` itself (all its workers, the scheduler, the access log), healthy;
    ``python_path``: directories put before everything else on its ``PYTHONPATH``."""
    port = free_port()
    # this checkout's code first: the server runs in another directory (no .env there), where a
    # relative PYTHONPATH (``PYTHONPATH=.``) would reach the installed copy instead
    path = os.pathsep.join(
        p for p in (*python_path, str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "teampulse"), "serve"],
        cwd=log.parent,  # no .env
        env={
            **os.environ,
            **env,
            "PYTHONPATH": path,
            "PORT": str(port),
            "TEAMPULSE_HOST": "127.0.0.1",
        },
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"teampulse serve ended; see {log}")
            try:
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return Child("app", process, url)
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"teampulse serve did not start; see {log}")


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (``teampulse serve``'s
    workers)."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process and its children."""
    user = system = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        user, system = int(fields[11]) / tick, int(fields[12]) / tick
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return user, system
    for child in children:
        more = cpu_split(int(child))
        user, system = user + more[0], system + more[1]
    return user, system


async def until_quiet(pid: int) -> None:
    """Wait until the server has finished its after-the-ack work (the receipts' ``chat.update``)
    so that it is counted in its CPU and does not run into the next server's turn: less than
    5 ms of CPU in 200 ms."""
    for _ in range(300):
        before = cpu_seconds(pid)
        await asyncio.sleep(0.2)
        if cpu_seconds(pid) - before < 0.005:
            return


def main() -> None:
    roles = {"bare": run_bare, "baseline": run_baseline, "job": run_job, "fake": run_fake}
    if len(sys.argv) != 2 or sys.argv[1] not in roles:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(roles)} (started by bench/slack_ingest.py)")
    asyncio.run(roles[sys.argv[1]]())


if __name__ == "__main__":
    main()
