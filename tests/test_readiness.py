"""``/healthz`` and ``/readyz`` over real HTTP: ready when the database answers at the schema's
head and a platform is configured; otherwise 503 with a reason for each failed check."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.server import create_app
from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from storage.migrate import downgrade, head_revision
from tests.conftest import BACKENDS
from tests.test_migrations import revisions


@asynccontextmanager
async def server(
    settings: Settings, database_url: str, platforms: Sequence[str] = ("local",)
) -> AsyncIterator[str]:
    """The real app on a random port, over ``database_url``; yields its base URL."""
    service = TeamPulse(Database(database_url), settings)
    runner = web.AppRunner(create_app(service, [], platforms=platforms))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
        await service.db.dispose()


async def probe(url: str, path: str = "/readyz") -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url + path) as response:
        return response.status, await response.json()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # free once the socket closes: nothing listens


async def test_ready_when_the_database_is_at_head_and_a_platform_is_served(
    settings: Settings, database_url: str
) -> None:
    async with server(settings, database_url) as url:
        alive = await probe(url, "/healthz")
        ready = await probe(url)
    assert alive == (200, {"status": "ok"})
    assert ready == (
        200,
        {"status": "ready", "checks": {"database": "ok", "schema": "ok", "platforms": "ok"}},
    )


@pytest.mark.alembic  # (taken down a migration)
async def test_a_schema_behind_the_code_is_not_ready_and_says_which_revisions(
    settings: Settings, database_url: str
) -> None:
    previous = revisions()[-2]
    await downgrade(database_url, previous)
    async with server(settings, database_url) as url:
        status, body = await probe(url)
    assert status == 503
    assert body["failed"] == ["schema"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["schema"] == (
        f"the database is at {previous}; this version needs {head_revision()}"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_database_never_migrated_is_not_ready_and_names_the_command(
    settings: Settings, tmp_path: Path
) -> None:
    async with server(settings, f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}") as url:
        status, body = await probe(url)
    assert status == 503 and body["failed"] == ["schema"]
    assert "teampulse db upgrade" in body["checks"]["schema"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_unreachable_database_is_a_503_with_reasons_not_a_500(
    settings: Settings, backend: str, tmp_path: Path
) -> None:
    nowhere = (
        f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'x.db'}"
        if backend == "sqlite"
        else f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/teampulse"
    )
    async with server(settings, nowhere) as url:
        status, body = await probe(url)
        alive = await probe(url, "/healthz")
    assert status == 503
    assert body["failed"] == ["database", "schema"]
    assert body["checks"]["database"].startswith("unreachable (")
    assert body["checks"]["schema"] == "not checked: no database"
    assert body["checks"]["platforms"] == "ok"
    assert alive[0] == 200  # alive all the same: no restart would fix the database


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_platform_served_is_not_ready(settings: Settings, database_url: str) -> None:
    async with server(settings, database_url, platforms=()) as url:
        status, body = await probe(url)
    assert status == 503 and body["failed"] == ["platforms"]
    assert body["checks"]["platforms"].startswith("no platform configured")
