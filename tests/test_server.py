"""The HTTP routes through the real aiohttp app on a real port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from adapters.local import webchat
from bot.settings import Settings
from tests.support import serve


async def start(settings: Settings) -> tuple[web.AppRunner, str]:
    running = await serve(settings)
    return running.runner, running.url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """One local-mode server (demo organisation loaded) for the module: loading it takes seconds."""
    folder = tmp_path_factory.mktemp("server")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'server.db'}",
        TEAMPULSE_SECRET="test-secret-not-for-production-0123456789",
        TEAMPULSE_LOCAL_CHAT="on",
    )
    runner, url = await start(settings)
    yield url
    await runner.cleanup()


async def token_of(http: aiohttp.ClientSession, url: str) -> str:
    page = await (await http.get(url + "/")).text()
    marker = 'name="teampulse-token" content="'
    return page.split(marker, 1)[1].split('"', 1)[0]


@pytest.mark.asyncio(loop_scope="module")
async def test_health_and_readiness(local_server: str) -> None:
    async with aiohttp.ClientSession() as http:
        health = await http.get(local_server + "/healthz")
        assert health.status == 200 and (await health.json())["status"] == "ok"
        ready = await http.get(local_server + "/readyz")
        assert ready.status == 200 and (await ready.json())["checks"]["database"] == "ok"


@pytest.mark.asyncio(loop_scope="module")
async def test_local_api_needs_the_page_token(local_server: str) -> None:
    async with aiohttp.ClientSession() as http:
        refused = await http.post(
            local_server + "/local/api/message",
            json={"as": "amara.okafor@riverside-demo.nhs.uk", "text": "pulse"},
        )
        assert refused.status == 401 and "token" in (await refused.json())["error"]
        token = await token_of(http, local_server)
        ok = await http.post(
            local_server + "/local/api/message",
            headers={"X-Teampulse-Token": token},
            json={"as": "amara.okafor@riverside-demo.nhs.uk", "text": "pulse help"},
        )
        assert ok.status == 200
        [reply] = (await ok.json())["replies"]
        assert reply["type"] == "text" and "kudos" in reply["text"]


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/local/api/message", b"not json", "JSON"),
        ("/local/api/message", b'{"text": "pulse"}', "as"),
        ("/local/api/message", b'{"as": "x@y.z", "text": 5}', "text"),
        ("/local/api/pulse", b'{"as": "x@y.z", "round_id": "one", "answers": {}}', "round_id"),
        (
            "/local/api/pulse",
            b'{"as": "x@y.z", "round_id": 1, "answers": {"q": "five"}}',
            "numbers",
        ),
    ],
)
@pytest.mark.asyncio(loop_scope="module")
async def test_bad_input_is_a_4xx_with_a_reason(
    local_server: str, path: str, body: bytes, reason: str
) -> None:
    async with aiohttp.ClientSession() as http:
        token = await token_of(http, local_server)
        response = await http.post(
            local_server + path,
            data=body,
            headers={"X-Teampulse-Token": token, "Content-Type": "application/json"},
        )
        assert response.status == 400
        assert reason in (await response.json())["error"]


@pytest.mark.asyncio(loop_scope="module")
async def test_unknown_person_in_inbox_is_a_400(local_server: str) -> None:
    async with aiohttp.ClientSession() as http:
        token = await token_of(http, local_server)
        response = await http.get(
            local_server + "/local/api/inbox?as=nobody@x.org", headers={"X-Teampulse-Token": token}
        )
        assert (
            response.status == 400
            and "not in this organisation" in (await response.json())["error"]
        )


@pytest.mark.asyncio(loop_scope="module")
async def test_page_files_are_served_with_their_types(local_server: str) -> None:
    """The front end is ES modules: a browser runs one only if it comes as JavaScript."""
    static = Path(webchat.__file__).with_name("static")
    modules = sorted(p.name for p in static.glob("*.js"))
    assert "app.js" in modules and len(modules) > 1
    async with aiohttp.ClientSession() as http:
        page = await (await http.get(local_server + "/")).text()
        assert '<script type="module" src="/local/static/app.js">' in page
        for name in modules:
            response = await http.get(f"{local_server}/local/static/{name}")
            assert response.status == 200, name
            assert response.content_type == "text/javascript", name
            assert response.charset == "utf-8"
            assert (await response.read()) == (static / name).read_bytes()
            for imported in re.findall(r'from "\./([\w.]+)"', (static / name).read_text()):
                assert imported in modules, f"{name} imports {imported}, which is not there"
        css = await http.get(local_server + "/local/static/style.css")
        assert css.status == 200 and css.content_type == "text/css"
        for missing in ("nope.js", "..%2Fwebchat.py", "%2E%2E", ""):
            response = await http.get(f"{local_server}/local/static/{missing}")
            assert response.status == 404, missing


async def test_with_a_platform_configured_there_is_no_web_chat_and_no_demo(
    settings: Settings,
) -> None:
    teams = {"microsoft_app_id": "app-id", "microsoft_app_password": "app-password"}
    configured = settings.model_copy(
        update={**teams, "teams_tenants_raw": "tenant-test", "local_chat": None}
    )
    assert not configured.local_mode and configured.bind_host == "0.0.0.0"
    runner, url = await start(configured)
    try:
        async with aiohttp.ClientSession() as http:
            page = await http.get(url + "/")
            assert page.status == 200 and "web chat is off" in await page.text()
            api = await http.get(url + "/local/api/people")
            assert api.status == 404
    finally:
        await runner.cleanup()
    from sqlmodel import select

    from storage.engine import Database
    from storage.models import Organisation

    db = Database(settings.database_url)
    async with db.session() as session:
        assert (await session.exec(select(Organisation))).all() == []
    await db.dispose()


def test_local_mode_defaults_to_loopback(settings: Settings) -> None:
    assert settings.local_mode and settings.bind_host == "127.0.0.1"


@pytest.mark.asyncio(loop_scope="module")
async def test_metrics_count_without_naming_anyone(local_server: str) -> None:
    nurse = "amara.okafor@riverside-demo.nhs.uk"
    async with aiohttp.ClientSession() as http:
        token = await token_of(http, local_server)
        headers = {"X-Teampulse-Token": token}
        inbox = await (
            await http.get(f"{local_server}/local/api/inbox?as={nurse}", headers=headers)
        ).json()
        [card] = [r for r in inbox["replies"] if r["type"] == "pulse"]
        answers = {q["id"]: 4 for q in card["questions"]}
        submitted = await http.post(
            local_server + "/local/api/pulse",
            headers=headers,
            json={
                "as": nurse,
                "round_id": card["round_id"],
                "answers": answers,
                "comments": {card["questions"][0]["id"]: "private thoughts"},
            },
        )
        assert (await submitted.json())["replies"][0]["type"] == "receipt"
        scrape = await http.get(local_server + "/metrics")
        body = await scrape.text()
    assert scrape.status == 200
    assert "teampulse_pulse_submissions_total 1.0" in body
    assert "teampulse_pulse_submit_batch_size_count 1.0" in body
    assert 'teampulse_http_requests_total{route="/local/api/pulse",status="200"}' in body
    assert "teampulse_outbox_pending" in body and "teampulse_open_rounds 8.0" in body
    assert "riverside-demo" not in body and "private thoughts" not in body
