"""``teampulse serve`` with several workers (gunicorn) and ``TEAMPULSE_LOG_FORMAT=json``, as an
operator runs it: gunicorn's own lines (starting, workers booting, a worker killed, stopping) come
out in the same JSON as ours, one object a line, and the access log keeps no query string."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from bot.settings import Settings
from tests.conftest import BACKENDS
from tests.fake_slack import FakeSlack
from tests.support import email
from tests.test_workers import (
    Server,
    free_port,
    server_env,
    serving,
    until,
)

POSTGRES_ONLY = [b for b in BACKENDS if b == "postgresql"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """The Slack the server is configured for (it makes no call in this test)."""
    slack = FakeSlack()
    await slack.start()
    yield slack
    await slack.stop()


def json_lines(path: str) -> list[dict[str, Any]]:
    """Every line the server wrote to standard error, each parsed as one JSON object (a line in
    any other form, a traceback's continuation say, fails here)."""
    lines = []
    for text in Path(path).read_text(encoding="utf-8").splitlines():
        if text.strip():
            parsed = json.loads(text)
            assert isinstance(parsed, dict) and {"time", "level", "logger", "message"} <= set(
                parsed
            ), text
            lines.append(parsed)
    return lines


def started(path: str) -> int:
    """How many worker processes have built their app so far (each says where it serves)."""
    return Path(path).read_text(encoding="utf-8").count("teampulse (platform) on")


async def replaced(server: Server, gone: int, workers: int, log: str) -> None:
    """Wait until gunicorn has replaced ``gone`` and the new worker has built its app."""
    await until(lambda: len(server.workers()) == 2 and gone not in server.workers())
    await until(lambda: started(log) == workers)


@pytest.mark.parametrize("database_url", POSTGRES_ONLY, indirect=True)
async def test_gunicorn_logs_in_our_json_one_line_per_event_and_no_query_strings(
    settings: Settings, fake: FakeSlack
) -> None:
    env = {**server_env(settings, fake, free_port(), workers=2), "TEAMPULSE_LOG_FORMAT": "json"}
    who, log = email("b0"), "workers.log"
    async with serving(env, log) as server, aiohttp.ClientSession() as http:
        await until(lambda: started(log) == 2)
        first, second = server.workers()
        os.kill(first, signal.SIGTERM)  # one worker stopped on its own, cleanly
        await replaced(server, first, 3, log)
        [third] = set(server.workers()) - {second}
        os.kill(third, signal.SIGKILL)  # another as the kernel's OOM killer would
        await replaced(server, third, 4, log)
        # a query naming someone (as the local web chat's ``?as=`` does)
        async with http.get(f"{server.url}/healthz?as={quote(who)}&x=1") as response:
            assert response.status == 200
        for _ in range(4):  # whichever worker answers, the shared metrics folder is still there
            async with http.get(f"{server.url}/metrics") as response:
                assert response.status == 200
                assert "teampulse_open_rounds" in await response.text()
    assert server.process.returncode == 0

    lines = json_lines(log)
    gunicorn = [line for line in lines if line["logger"] == "gunicorn.error"]
    said = " | ".join(line["message"] for line in gunicorn)
    for event in ("Starting gunicorn", "Listening at", "Handling signal: term", "Shutting down"):
        assert event in said, said
    assert f"Worker exiting (pid: {first})" in said
    booted = [line for line in gunicorn if line["message"].startswith("Booting worker")]
    assert len(booted) == 4  # two, and one for each worker that went
    [killed] = [line for line in gunicorn if f"(pid:{third}) was sent SIGKILL" in line["message"]]
    assert killed["level"] == "ERROR"
    assert not [line for line in lines if "exc_info" in line]  # nothing failed meanwhile
    # the workers' own lines are ours too, in the same form
    assert any(line["logger"] == "teampulse" for line in lines)

    health = [line for line in lines if line.get("path", "").startswith("/healthz")]
    assert health and all(line["logger"] == "aiohttp.access" for line in health)
    assert all(line["path"] == "/healthz" and line["request_id"] for line in health)
    text = Path(log).read_text(encoding="utf-8")
    assert who not in text and quote(who) not in text and "x=1" not in text
