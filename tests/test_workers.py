"""``teampulse serve`` with several worker processes (``TEAMPULSE_WORKERS``), as an operator runs
it: a real child process on a real port, signed Slack requests in, the fake Slack behind it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func
from sqlmodel import select

from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from storage.models import Participation, Response
from surveys.organisation import spec_from_yaml
from tests.conftest import BACKENDS
from tests.fake_slack import TOKEN, FakeSlack
from tests.slack_support import ORG, SECRET, scores, uid, view_submission
from tests.support import email

TEAMPULSE = Path(sys.executable).parent / "teampulse"
STARTUP = 90.0  # seconds: each worker imports the whole stack


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(settings: Settings, fake: FakeSlack, port: int, workers: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "Microsoft"))}
    return {
        **keep,
        "DATABASE_URL": settings.database_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "TEAMPULSE_SECRET": "test-secret-not-for-production-0123456789",
        "TEAMPULSE_HOST": "127.0.0.1",
        "PORT": str(port),
        "TEAMPULSE_WORKERS": str(workers),
    }


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def workers(self) -> list[int]:
        """The serve process's worker processes (what ``ps`` shows an operator): its children."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return sorted(int(pid) for pid in children.read_text().split())


async def until(condition: Callable[[], bool], within: float = STARTUP) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.1)  # re-checking a condition, not timing a result


async def until_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert server.process.poll() is None, "teampulse serve exited while starting"
            try:
                async with http.get(server.url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)  # polling a starting process, not timing a result
    raise AssertionError("teampulse serve did not become healthy")


@asynccontextmanager
async def serving(
    env: dict[str, str], log_name: str = "serve.log", *, verbose: bool = False
) -> AsyncIterator[Server]:
    """``teampulse serve`` (``teampulse -v serve`` when ``verbose``) in the test's folder (no
    .env; its log in ``log_name``), healthy; stopped with SIGTERM, as a service manager stops
    it."""
    command = [str(TEAMPULSE), *(["-v"] if verbose else []), "serve"]
    with Path(log_name).open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        server = Server(process, f"http://127.0.0.1:{env['PORT']}")
        try:
            await until_healthy(server)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    for i in range(6):
        slack.add_user(uid(f"b{i}"), email(f"b{i}"))
    yield slack
    await slack.stop()


def submission(user: str, round_id: int, questions: list[str]) -> str:
    """The signed-body-to-be of ``user``'s pulse form for ``round_id`` (every question: 4)."""
    modal = {
        "callback_id": "pulse_submit",
        "private_metadata": json.dumps({"round": round_id, "questions": questions}),
    }
    payload = view_submission(user, modal, scores([f"q:{qid}" for qid in questions], 4))
    return urlencode({"payload": json.dumps(payload)})


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or "",
    }


@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_two_workers_share_the_port_record_each_answer_once_and_stop_together(
    settings: Settings, fake: FakeSlack
) -> None:
    db = Database(settings.database_url)
    service = TeamPulse(db, settings)
    await service.import_organisation(spec_from_yaml(ORG))
    await service.open_round(await service.team_named("Ward B"))
    [card] = await service.pending_pulses(email("b0"))
    questions = [q.id for q in card.questions]

    async with serving(server_env(settings, fake, free_port(), workers=2)) as server:
        workers = server.workers()
        assert len(workers) == 2
        bodies = [submission(uid(f"b{i}"), card.round_id, questions) for i in range(6)]
        bodies.append(bodies[0])  # a double-click, maybe to the other worker
        async with aiohttp.ClientSession() as http:

            async def send(body: str) -> tuple[int, str]:
                async with http.post(
                    server.url + "/slack/events", data=body, headers=signed(body)
                ) as response:
                    return response.status, await response.text()

            replies = await asyncio.gather(*(send(body) for body in bodies))
            async with http.get(server.url + "/metrics") as scrape:
                metrics = await scrape.text()
        # closed from this process (as `teampulse pulse close` does): each worker writes the
        # answers it holds pending when it stops, at the latest
        await service.close_round(await service.team_named("Ward B"))
    assert all(status == 200 for status, _ in replies)
    assert [text for _, text in replies].count("") == 6  # six acks, one "already answered"
    assert "already answered" in "".join(text for _, text in replies)
    # whichever worker answered the scrape, it counts every worker's answers
    assert "teampulse_pulse_submissions_total 6.0" in metrics
    async with db.session() as session:
        participation = await session.get(Participation, card.round_id)
        rows = (await session.exec(select(func.count()).select_from(Response))).one()
    # who answered is written per worker in batches of at least k (5) or the whole round: with
    # the six answers split 6/0 or 5/1 that is 6 or 5 people, split 4/2 or 3/3 it is none (each
    # worker's last batch is too small to write); either way no one is counted twice, and each
    # worker gave back its reservation on the round when it wrote (or dropped) its last batch
    assert participation is not None and participation.respondents in (0, 5, 6)
    assert participation.unsure == 0
    assert rows == 6 * len(questions)
    # SIGTERM stopped the server and every worker, cleanly
    assert server.process.returncode == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    await db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_several_workers_on_sqlite_are_refused_with_a_reason(
    settings: Settings, fake: FakeSlack
) -> None:
    env = server_env(settings, fake, free_port(), workers=3)
    done = subprocess.run(
        [str(TEAMPULSE), "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "TEAMPULSE_WORKERS above 1 needs PostgreSQL" in done.stderr


@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_a_worker_that_dies_is_replaced_and_the_server_keeps_answering(
    settings: Settings, fake: FakeSlack
) -> None:
    async with serving(server_env(settings, fake, free_port(), workers=2)) as server:
        first, second = server.workers()
        os.kill(first, signal.SIGKILL)  # as the kernel's OOM killer would
        async with aiohttp.ClientSession() as http:
            # at once: the other worker answers on the shared socket meanwhile
            statuses = []
            for _ in range(20):
                async with http.get(server.url + "/readyz") as response:
                    statuses.append(response.status)
            await until(lambda: len(server.workers()) == 2 and first not in server.workers())
            [replacement] = set(server.workers()) - {second}
            for _ in range(20):  # both workers, the new one too, serving the shared socket
                async with http.get(server.url + "/readyz") as response:
                    statuses.append(response.status)
        assert server.process.poll() is None  # the server itself never stopped
    assert statuses == [200] * 40
    assert replacement not in (first, second)
    assert server.process.returncode == 0
