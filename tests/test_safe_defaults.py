"""Safe by default (invariant 6): what ``teampulse serve`` refuses to start with, said through the
real command line; and the local web chat answering only its own loopback origin."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from sqlmodel import func, select

from bot.cli import main
from bot.safety import refusals
from bot.settings import Settings
from storage.engine import Database, sqlite_lacks_json
from storage.models import Recognition
from tests.conftest import PLATFORM_VARIABLES
from tests.support import email, import_org, serve

SECRET = "a-long-random-secret-for-these-tests-0123456789"
SLACK_HTTP = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "signing"}
OAUTH = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "client", "SLACK_SIGNING_SECRET": "s"}
TEAMS = {"MicrosoftAppId": "app", "MicrosoftAppPassword": "password"}
TENANTS = {"TEAMPULSE_TEAMS_TENANTS": "tenant-one"}


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No platform variable, secret or ``.env`` from outside: only what a case sets."""
    for name in (*PLATFORM_VARIABLES, "TEAMPULSE_SECRET", "DATABASE_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def serve_with(folder: Path, env: dict[str, str]) -> tuple[int, str, bool]:
    """``teampulse serve`` with ``env``: its exit code, its output, and whether it created the
    database (it must refuse before touching anything).  Two workers on SQLite is refused by a
    later check, so a configuration that passes these ends there rather than serving."""
    database = folder / "refused.db"
    tripwire = {"TEAMPULSE_WORKERS": "2"}
    result = CliRunner().invoke(
        main, ["serve"], env={"DATABASE_URL": f"sqlite+aiosqlite:///{database}", **tripwire, **env}
    )
    assert not isinstance(result.exception, RuntimeError | ValueError), result.exception
    return result.exit_code, result.output, database.exists()


REFUSED = [
    pytest.param({"SLACK_BOT_TOKEN": "xoxb-1"}, ["SLACK_SIGNING_SECRET"], id="bot-token-alone"),
    pytest.param({"SLACK_CLIENT_ID": "1.2"}, ["SLACK_CLIENT_SECRET"], id="client-id-alone"),
    pytest.param({"SLACK_APP_TOKEN": "xapp-1"}, ["SLACK_BOT_TOKEN"], id="app-token-alone"),
    pytest.param(
        {**OAUTH, "TEAMPULSE_SECRET": SECRET}, ["TEAMPULSE_SLACK_WORKSPACES"], id="no-workspaces"
    ),
    pytest.param(
        {"MicrosoftAppId": "app", **TENANTS, "TEAMPULSE_SECRET": SECRET},
        ["MicrosoftAppPassword"],
        id="app-id-alone",
    ),
    pytest.param(
        {"MicrosoftAppPassword": "p", **TENANTS, "TEAMPULSE_SECRET": SECRET},
        ["MicrosoftAppId"],
        id="password-alone",
    ),
    pytest.param(
        {**TEAMS, "MicrosoftAppType": "SingleTenant", **TENANTS, "TEAMPULSE_SECRET": SECRET},
        ["MicrosoftAppTenantId"],
        id="single-tenant-without-its-tenant",
    ),
    pytest.param(
        {**TEAMS, "TEAMPULSE_SECRET": SECRET},
        ["TEAMPULSE_TEAMS_TENANTS", "NHSmail"],
        id="teams-without-tenants",
    ),
    pytest.param(
        {"TEAMPULSE_TEAMS_AUTH": "off", **TENANTS, "TEAMPULSE_HOST": "0.0.0.0"},
        ["TEAMPULSE_TEAMS_AUTH=off", "TEAMPULSE_HOST is 0.0.0.0"],
        id="teams-without-auth-reachable",
    ),
    pytest.param(
        {"TEAMPULSE_HOST": "0.0.0.0"},
        ["local web chat", "act as anyone", "TEAMPULSE_HOST is 0.0.0.0"],
        id="local-chat-reachable",
    ),
    pytest.param(
        {
            "TEAMPULSE_LOCAL_CHAT": "on",
            **SLACK_HTTP,
            "TEAMPULSE_SECRET": SECRET,
            "TEAMPULSE_HOST": "0.0.0.0",
        },
        ["TEAMPULSE_LOCAL_CHAT=on", "TEAMPULSE_HOST is 0.0.0.0"],
        id="local-chat-forced-beside-slack-reachable",
    ),
    pytest.param(SLACK_HTTP, ["TEAMPULSE_SECRET is not set"], id="no-secret"),
    pytest.param(
        {**SLACK_HTTP, "TEAMPULSE_SECRET": "short-secret"},
        ["TEAMPULSE_SECRET is 12 characters", "at least 32"],
        id="short-secret",
    ),
]


@pytest.mark.parametrize(("env", "named"), REFUSED)
def test_serve_refuses_to_start_and_names_the_variable(
    clean: Path, env: dict[str, str], named: list[str]
) -> None:
    code, output, touched = serve_with(clean, env)
    assert code != 0 and "teampulse will not start" in output
    assert "Traceback" not in output
    for words in named:
        assert words in output, output
    assert not touched  # refused before the database (or a port) was opened


def test_every_problem_is_named_at_once(clean: Path) -> None:
    code, output, _ = serve_with(clean, {"SLACK_BOT_TOKEN": "xoxb-1", "MicrosoftAppId": "app"})
    assert code != 0
    for name in ("SLACK_SIGNING_SECRET", "MicrosoftAppPassword", "TEAMPULSE_TEAMS_TENANTS"):
        assert name in output
    assert "TEAMPULSE_SECRET is not set" in output


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({**SLACK_HTTP, "TEAMPULSE_SECRET": SECRET}, id="slack-one-workspace"),
        pytest.param(
            {**OAUTH, "TEAMPULSE_SLACK_WORKSPACES": "T1", "TEAMPULSE_SECRET": SECRET},
            id="slack-oauth",
        ),
        pytest.param(
            {"SLACK_APP_TOKEN": "xapp", "SLACK_BOT_TOKEN": "xoxb", "TEAMPULSE_SECRET": SECRET},
            id="slack-socket-mode",
        ),
        pytest.param({**TEAMS, **TENANTS, "TEAMPULSE_SECRET": SECRET}, id="teams"),
        pytest.param(
            {
                "MicrosoftAppId": "app",
                "MicrosoftAppType": "UserAssignedMSI",
                "MicrosoftAppTenantId": "tenant-one",
                "TEAMPULSE_SECRET": SECRET,
            },
            id="teams-managed-identity-own-tenant",
        ),
        pytest.param(
            {"TEAMPULSE_TEAMS_AUTH": "off", **TENANTS, "TEAMPULSE_SECRET": SECRET},
            id="teams-without-auth-loopback",
        ),
        pytest.param({}, id="local"),
        pytest.param({"SLACK_BOT_TOKEN": "", "MicrosoftAppId": ""}, id="empty-values-are-unset"),
        pytest.param({"TEAMPULSE_HOST": "::1"}, id="local-on-ipv6-loopback"),
    ],
)
def test_complete_configurations_start(clean: Path, env: dict[str, str]) -> None:
    assert refusals(settings_of(env)) == []


def test_a_partial_configuration_does_not_turn_the_web_chat_on(clean: Path) -> None:
    partial = settings_of({"SLACK_BOT_TOKEN": "xoxb-1"})
    assert not partial.local_mode and partial.bind_host == "0.0.0.0"
    assert settings_of({"TEAMPULSE_TEAMS_AUTH": "off"}).bind_host == "127.0.0.1"


def test_the_local_secret_file_is_created_private_and_kept(clean: Path) -> None:
    local = settings_of({})
    first = local.hashing_secret()
    assert stat.S_IMODE(os.stat(local.local_secret_path).st_mode) == 0o600
    assert len(first) >= 32 and settings_of({}).hashing_secret() == first


async def kudos_count(db: Database) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(Recognition))).one()


async def test_a_rebinding_page_cannot_use_the_web_chat(db: Database, settings: Settings) -> None:
    """A page at another name that resolves to 127.0.0.1 (DNS rebinding) sends its own Host;
    a page of another site posting to the chat sends its own Origin."""
    await import_org(db)
    running = await serve(settings)
    port = running.url.rsplit(":", 1)[1]
    kudos = {"as": email("a0"), "text": "kudos @a1 thanks for the cover #teamwork"}
    try:
        async with aiohttp.ClientSession() as http:
            for host in (f"attacker.example:{port}", "127.0.0.1:1", "127.0.0.1", "[::1]@evil"):
                page = await http.get(running.url + "/", headers={"Host": host})
                assert page.status == 421, host
                assert "teampulse-token" not in await page.text()
            page = await (await http.get(running.url + "/")).text()
            token = page.split('name="teampulse-token" content="', 1)[1].split('"', 1)[0]
            api = running.url + "/local/api/message"
            sent = {"X-Teampulse-Token": token}
            rebound = await http.post(
                api, json=kudos, headers={**sent, "Host": f"attacker.example:{port}"}
            )
            assert rebound.status == 421
            people = await http.get(
                running.url + "/local/api/people",
                headers={**sent, "Host": f"attacker.example:{port}"},
            )
            assert people.status == 421 and email("a0") not in await people.text()
            cross = await http.post(
                api, json=kudos, headers={**sent, "Origin": f"http://attacker.example:{port}"}
            )
            assert cross.status == 403
            assert await kudos_count(db) == 0

            own = {**sent, "Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
            accepted = await http.post(api, json=kudos, headers=own)
            assert accepted.status == 200, await accepted.text()
            assert await kudos_count(db) == 1
    finally:
        await running.runner.cleanup()


def test_a_malformed_encryption_key_refuses_to_start_without_showing_it(clean: Path) -> None:
    good = "kJ3o4QpXq8S2GmC7yq4oF4bQ2Q3u3m2Yd9m1n4x5z6A="
    bad = "not-a-fernet-key-but-a-secret-value"
    env = {**SLACK_HTTP, "TEAMPULSE_SECRET": SECRET, "TEAMPULSE_ENCRYPTION_KEYS": f"{good},{bad}"}
    problems = refusals(settings_of(env))
    assert problems == [
        "TEAMPULSE_ENCRYPTION_KEYS: key 2 is not a Fernet key (32 bytes in url-safe base64; "
        "make one with `teampulse secrets new-key`)."
    ]
    assert bad not in " ".join(problems)
    assert refusals(settings_of({**env, "TEAMPULSE_ENCRYPTION_KEYS": good})) == []


def without_json(real: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
    """``sqlite3.connect`` as on a Python whose SQLite was built without its JSON functions:
    every read of ``json_each`` is refused, as an unknown table would be."""

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real(*args, **kwargs)
        connection.set_authorizer(
            lambda _action, table, *_: (
                sqlite3.SQLITE_DENY if (table or "").startswith("json") else sqlite3.SQLITE_OK
            )
        )
        return connection

    return connect


def test_sqlite_without_json_functions_refuses_to_start_before_taking_answers(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a server would take answers, then fail every directorate's and trust's report."""
    monkeypatch.setattr(sqlite3, "connect", without_json(sqlite3.connect))
    code, output, touched = serve_with(clean, {})
    assert code == 1, output
    assert "no JSON functions" in output and "3.38" in output and "PostgreSQL" in output
    assert not touched
    # PostgreSQL doesn't need them: only SQLite is asked
    on_postgresql = settings_of({"DATABASE_URL": "postgresql+asyncpg://db/teampulse"})
    assert refusals(on_postgresql) == []


def test_this_pythons_sqlite_has_the_json_functions_the_reports_need(clean: Path) -> None:
    assert refusals(settings_of({})) == []
    assert sqlite_lacks_json(sqlite3.connect(":memory:")) is False
    assert sqlite_lacks_json(without_json(sqlite3.connect)(":memory:")) is True
