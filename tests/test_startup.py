"""What ``teampulse serve`` holds once it has started: the libraries only reports and comments need
(matplotlib, SciPy, NumPy, TextBlob/NLTK, Pillow), Alembic (only to migrate) and ``limits`` (the
first command's rate limit) stay out of a server that has only started, on every configuration
(and asyncpg, on SQLite),
and so do the Bot Framework SDK and slack-bolt (loaded in the background once the server has
answered its first request); the first trend report after start still draws its chart and tests
its changes, the first comment still gets its mood (without TextBlob's package, which would
import NLTK, NumPy and SciPy), the first Teams message is still answered,
and so are a Slack command and pulse submission sent as the server's very first requests; what
they import then is kept out of the garbage collector's full collections, as start-up's objects
are (docs/performance.md, "Start-up and footprint").

The server is the real ``teampulse serve`` command in a child process, stopped with SIGTERM as a
service manager stops it; at its exit it writes the names of the modules it had loaded."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from sqlmodel import col, select

from adapters.slack.blocks import pulse_modal
from bot.cards import CardForm
from bot.conversation import Conversation
from bot.demo import DEMO_MANAGER, DEMO_NURSE
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import PulseCard
from storage.engine import Database
from storage.models import GeneralComment, PulseRound, Response
from surveys.responses import sentiment_of
from tests.fake_slack import TOKEN, FakeSlack
from tests.fake_teams import TENANT, FakeTeams
from tests.slack_support import ORG, Slack, question_blocks, scores, uid, view_submission
from tests.slack_support import SECRET as SLACK_SECRET
from tests.support import email, import_org
from tests.teams_support import member, personal_message

REPO = Path(__file__).resolve().parent.parent
STARTUP = 90.0  # seconds: generous, for a loaded machine; nothing here is timed
SECRET = "test-secret-not-for-production-0123456789"
# The objects a full collection may scan: what start-up built is frozen (``gc.freeze``), and so
# is what a late import builds (``surveys/lazy.py``); unfrozen, the late imports alone are 120,000
SCANNED = 30_000
# What a started server must not have imported: what reports, comments and migrations need
HEAVY = ("matplotlib", "scipy", "numpy", "textblob", "nltk", "PIL", "alembic", "gunicorn")
# ... and what only the first command or kudos needs (its per-person rate limit)
FIRST_COMMAND = ("limits",)
# What only PostgreSQL needs: a server on SQLite never loads its driver
POSTGRESQL_DRIVER = ("asyncpg",)
# What Teams needs only once it has an activity to handle or a message to send
BOT_FRAMEWORK = ("botbuilder", "botframework", "msrest", "msal", "azure")
# What Slack needs only once it has a request to answer (one workspace over HTTP)
BOLT = ("slack_bolt", "adapters.slack.bolt", "adapters.slack.listeners", "adapters.slack.oauth")
# ``teampulse serve`` (the entry point's own two lines), writing ``sys.modules`` at exit
SERVE = """
import atexit, gc, json, sys
out = sys.argv[1]
state = lambda: {"modules": sorted(sys.modules), "tracked": len(gc.get_objects())}
atexit.register(lambda: open(out, "w").write(json.dumps(state())))
from bot.cli import main
sys.argv = ["teampulse", "serve"]
sys.exit(main())
"""


# The server ``teampulse serve`` runs, set up (every platform started, the heap frozen) but not
# yet listening: the modules it holds then
BUILT = """
import asyncio, json, sys
from aiohttp import web
from bot.cli import _serve_app
from bot.settings import Settings

async def built():
    runner = web.AppRunner(await _serve_app(Settings()))
    await runner.setup()
    loaded = sorted(sys.modules)
    await runner.cleanup()
    return loaded

print(json.dumps(asyncio.run(built())))
"""


@dataclass
class Server:
    url: str
    loaded: list[str] = field(default_factory=list)  # set once the server has exited
    tracked: int = 0  # objects the garbage collector still scans, at exit

    def has(self, package: str) -> bool:
        return any(name == package or name.startswith(package + ".") for name in self.loaded)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_env(database_url: str) -> dict[str, str]:
    """The default: no platform variable (the local web chat)."""
    drop = ("SLACK_", "Microsoft", "TEAMPULSE_", "DATABASE_URL", "PORT")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**keep, "PYTHONPATH": str(REPO), "DATABASE_URL": database_url}


def platforms_env(database_url: str) -> dict[str, str]:
    """Slack (one workspace over HTTP) and Teams: nothing is sent to either at start-up."""
    return {
        **local_env(database_url),
        "SLACK_BOT_TOKEN": "xoxb-startup",
        "SLACK_SIGNING_SECRET": "startup-signing-secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "MicrosoftAppId": "00000000-0000-0000-0000-000000000001",
        "MicrosoftAppPassword": "startup-password",
        "TEAMPULSE_TEAMS_TENANTS": "startup-tenant",
        "TEAMPULSE_SECRET": SECRET,
    }


async def until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "teampulse serve exited while starting"
            try:
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)  # polling a starting process, not timing a result
    raise AssertionError("teampulse serve did not become healthy")


async def until_listening(url: str, process: subprocess.Popen[bytes]) -> None:
    """The server accepts connections (no request sent: the first is the test's own)."""
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        assert process.poll() is None, "teampulse serve exited while starting"
        try:
            _reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            await asyncio.sleep(0.1)  # polling a starting process, not timing a result
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError("teampulse serve did not listen")


@asynccontextmanager
async def serving(
    env: dict[str, str], folder: Path, ready: Callable[..., Awaitable[None]] = until_healthy
) -> AsyncIterator[Server]:
    """``teampulse serve``, healthy (or only ``ready``); at the end stopped with SIGTERM, its
    modules read."""
    port = free_port()
    modules = folder / f"modules-{port}.json"
    command = [sys.executable, "-c", SERVE, str(modules)]
    with (folder / f"serve-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            command, env={**env, "PORT": str(port)}, cwd=folder, stdout=log, stderr=log
        )
        server = Server(f"http://127.0.0.1:{port}")
        try:
            await ready(server.url, process)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    assert process.returncode == 0, (folder / f"serve-{port}.log").read_text()
    state = json.loads(modules.read_text())
    server.loaded, server.tracked = state["modules"], state["tracked"]


async def started_once(env: dict[str, str], folder: Path) -> None:
    """A first start: it migrates the database and, in local mode, loads the demo organisation
    (whose history is answered, comments and all, through the real submit path)."""
    async with serving(env, folder):
        pass


@pytest.mark.parametrize("configuration", ["local", "platforms"])
async def test_a_started_server_has_not_loaded_what_only_reports_comments_and_migrations_need(
    configuration: str, database_url: str, tmp_path: Path
) -> None:
    env = (local_env if configuration == "local" else platforms_env)(database_url)
    await started_once(env, tmp_path)
    async with serving(env, tmp_path) as server:
        pass
    assert server.has("aiohttp") and server.has("sqlalchemy")  # (the list is the real one)
    assert [package for package in HEAVY + FIRST_COMMAND if server.has(package)] == []
    on_sqlite = database_url.startswith("sqlite")
    assert [p for p in POSTGRESQL_DRIVER if server.has(p)] == ([] if on_sqlite else ["asyncpg"])
    assert server.tracked < SCANNED


def has(loaded: list[str], package: str) -> bool:
    return Server("", loaded).has(package)


async def test_the_bot_framework_sdk_waits_until_the_server_is_up_and_answers_the_first_message(
    database_url: str, tmp_path: Path, fake: FakeTeams
) -> None:
    env = {**platforms_env(database_url), "MicrosoftAppId": "", "TEAMPULSE_TEAMS_AUTH": "off"}
    env["TEAMPULSE_TEAMS_TENANTS"] = TENANT
    await started_once(env, tmp_path)
    built = subprocess.run(
        [sys.executable, "-c", BUILT], env=env, cwd=tmp_path, capture_output=True, check=True
    )
    loaded = json.loads(built.stdout)
    assert has(loaded, "aiohttp") and has(loaded, "slack_sdk")  # (the list is the real one)
    assert [package for package in BOT_FRAMEWORK + BOLT if has(loaded, package)] == []
    who = member("first.caller")
    fake.add_member(who)
    async with serving(env, tmp_path) as server, aiohttp.ClientSession() as http:
        body = personal_message(who, "help", fake.service_url)
        async with http.post(server.url + "/api/messages", json=body) as response:
            assert response.status == 201, await response.text()
    [answer] = fake.sent_texts(f"a:personal-{who.aad_object_id}")
    assert answer.strip()  # (someone the organisation doesn't know is told so, in words)
    assert server.has("botbuilder")
    assert server.tracked < SCANNED  # (what the SDK's import built is frozen too)


async def test_slack_loads_bolt_after_start_and_answers_the_first_command_and_submission(
    database_url: str, tmp_path: Path
) -> None:
    fake = FakeSlack()
    await fake.start()
    for name in [f"a{i}" for i in range(12)]:
        fake.add_user(uid(name), email(name))
    env = {**platforms_env(database_url), "SLACK_API_URL": fake.api_url}
    env.update(SLACK_SIGNING_SECRET=SLACK_SECRET, SLACK_BOT_TOKEN=TOKEN)
    try:
        await started_once(env, tmp_path)
        submission = await a_pulse_form_submitted(database_url, "a0")
        async with (
            serving(env, tmp_path, ready=until_listening) as server,
            aiohttp.ClientSession() as http,
        ):  # (the server's first requests: Bolt is not loaded yet, and each waits for it)
            slack = Slack(server.url, fake, None, http)  # type: ignore[arg-type]
            command, submitted = await asyncio.gather(
                slack.command("/pulse", "help", uid("a1")), slack.interaction(submission)
            )
            assert command.status == 200 and submitted.status == 200
            assert await submitted.text() == ""  # (accepted: the modal closes)
            [help_text] = await fake.wait_for("response_url")
            assert "pulse" in json.dumps(help_text.params)
            [receipt] = await fake.wait_for("chat.update")
            assert "answered" in json.dumps(receipt.params["blocks"])
        questions = submission["view"]["state"]["values"]
        assert await answers_stored(database_url) == len(questions)
    finally:
        await fake.stop()
    assert server.has("slack_bolt") and server.has("adapters.slack.listeners")
    assert server.has("limits")  # (the command was counted against its sender's limit)
    assert server.tracked < SCANNED  # (what Bolt's import built is frozen too)


async def a_pulse_form_submitted(database_url: str, person: str) -> dict[str, Any]:
    """Ward A's round opened; ``person``'s pulse form (as the DM's button opens it) answered."""
    db = Database(database_url)
    try:
        await import_org(db, ORG)
        settings = Settings(
            _env_file=None,
            DATABASE_URL=database_url,
            TEAMPULSE_SECRET=SECRET,
        )
        service = TeamPulse(db, settings)
        await service.open_round(await service.team_named("Ward A"))
        async with db.session() as session:
            [opened] = (await session.exec(select(PulseRound.id))).all()
        assert opened is not None
        card = await Conversation(service).open_card(email(person), opened)
        assert isinstance(card, PulseCard), card
        await service.close()
    finally:
        await db.dispose()
    where = (("channel", f"D{uid(person)}"), ("ts", "1700000100.000100"))
    form = CardForm(card.round_id, tuple(q.id for q in card.questions), where)
    modal = pulse_modal(card, form.dumps())
    return view_submission(uid(person), modal, scores(question_blocks(modal), 4))


async def answers_stored(database_url: str) -> int:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return len((await session.exec(select(Response))).all())
    finally:
        await db.dispose()


async def token(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    """The local web chat's token, as its own page carries it."""
    async with http.get(url + "/") as page:
        html = await page.text()
    return {"X-Teampulse-Token": html.split('"teampulse-token" content="', 1)[1].split('"')[0]}


async def chat(http: aiohttp.ClientSession, url: str, path: str, body: dict[str, Any]) -> Any:
    """A post from the local web chat's page: its replies."""
    async with http.post(url + path, json=body, headers=await token(http, url)) as reply:
        assert reply.status == 200, await reply.text()
        return (await reply.json())["replies"]


async def test_after_start_the_first_report_draws_its_chart_and_the_first_comment_its_mood(
    database_url: str, tmp_path: Path
) -> None:
    env = local_env(database_url)
    await started_once(env, tmp_path)
    async with serving(env, tmp_path) as server, aiohttp.ClientSession() as http:
        ask = {"as": DEMO_MANAGER, "text": "pulse trends 4"}
        [report] = await chat(http, server.url, "/local/api/message", ask)
        assert report["type"] == "trends" and report["chart_url"]
        async with http.get(server.url + report["chart_url"]) as chart:
            assert chart.status == 200 and chart.content_type == "image/png"
            png = await chart.read()
        await comment(http, server.url, WORDS)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 300
    # each theme's change against the 4 weeks before, told real or not by Welch's test (SciPy)
    themes = report["themes"]
    assert themes and all(theme["change"] is not None for theme in themes)
    assert {theme["significant"] for theme in themes} == {True, False}
    assert await mood_of(database_url, WORDS) > 0  # TextBlob's lexicon finds "Brilliant" glad
    # loaded when the report needed them, and out of the collector's sight
    assert server.has("matplotlib") and server.has("scipy")
    assert server.tracked < SCANNED


async def test_the_first_comment_gets_its_mood_without_nltk_numpy_or_scipy(
    database_url: str, tmp_path: Path
) -> None:
    """TextBlob's package would import NLTK, NumPy and SciPy (seconds of CPU, 95 MB) for the
    first comment of a server's life; its lexicon's scorer alone gives the same polarity."""
    env = local_env(database_url)
    await started_once(env, tmp_path)
    async with serving(env, tmp_path) as server, aiohttp.ClientSession() as http:
        await comment(http, server.url, WORDS)
    assert await mood_of(database_url, WORDS) == sentiment_of(WORDS) > 0
    assert [package for package in HEAVY if server.has(package)] == []


WORDS = "Brilliant support from the whole team this week, thank you"


async def comment(http: aiohttp.ClientSession, url: str, words: str) -> None:
    """The demo nurse answers the pulse waiting for her, with a general comment."""
    inbox = f"{url}/local/api/inbox?as={DEMO_NURSE}"
    async with http.get(inbox, headers=await token(http, url)) as response:
        card = next(r for r in (await response.json())["replies"] if r["type"] == "pulse")
    answers = {question["id"]: 4 for question in card["questions"]}
    body = {"as": DEMO_NURSE, "round_id": card["round_id"], "answers": answers}
    [receipt] = await chat(http, url, "/local/api/pulse", {**body, "comments": {"": words}})
    assert receipt["type"] == "receipt", receipt


async def mood_of(database_url: str, words: str) -> float:
    db = Database(database_url)
    try:
        async with db.session() as session:
            query = select(GeneralComment.sentiment).where(col(GeneralComment.comment) == words)
            mood = (await session.exec(query)).one()
    finally:
        await db.dispose()
    assert mood is not None, "the comment was stored without its mood"
    return mood
