"""Stored credentials are sealed at rest (issue 14, "Secrets"; docs/security.md).

The attacker holds the database: every table, the SQLite file and its ``-wal``, or PostgreSQL's
``pg_wal`` written while the workspace installed the app.  They find no Slack token, while the bot
goes on using it.  Tokens an older version stored in plain text are sealed at the next start, and
``teampulse secrets rotate`` moves every one to the newest key.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from bot.cli import main
from bot.server import SERVICE
from bot.settings import Settings
from storage.engine import Database
from surveys.organisation import spec_from_yaml
from tests.fake_slack import CLIENT_ID, CLIENT_SECRET, FakeSlack
from tests.pg_wal import WalReader
from tests.slack_support import ORG, SECRET, Slack, connected, texts, uid
from tests.support import email, serve
from tests.test_slack_oauth import install_from


def oauth_settings(settings: Settings, fake: FakeSlack, **more: str) -> Settings:
    return connected(
        settings,
        fake,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=SECRET,
        slack_workspaces_raw="T0NEW",
        **more,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    slack.add_user(uid("a0"), email("a0"))
    yield slack
    await slack.stop()


async def running(settings: Settings, fake: FakeSlack, http: aiohttp.ClientSession) -> Slack:
    started = await serve(oauth_settings(settings, fake))
    await started.app[SERVICE].import_organisation(spec_from_yaml(ORG))
    slack = Slack(started.url, fake, started.app[SERVICE], http)
    slack.runner = started.runner  # type: ignore[attr-defined]
    return slack


async def stop(slack: Slack) -> None:
    await slack.runner.cleanup()  # type: ignore[attr-defined]


async def every_stored_value(slack: Slack) -> str:
    """Every value of every table, as one text (what a dump of the database shows)."""
    async with slack.service.db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        values = []
        for name in names:
            for row in (await connection.execute(text(f'SELECT * FROM "{name}"'))).all():
                values.extend(str(value) for value in row)
    return "\n".join(values)


BOT_TOKENS = text(
    "SELECT bot_token FROM slack_bots UNION ALL SELECT bot_token FROM slack_installations"
)


async def stored_bot_tokens(slack: Slack) -> list[str]:
    async with slack.service.db.engine.connect() as connection:
        return [str(value) for value in (await connection.execute(BOT_TOKENS)).scalars()]


async def help_is_answered_with(slack: Slack, token: str) -> None:
    """A signed ``/pulse help`` from the workspace is served with its (opened) token."""
    body = urlencode(
        {
            "team_id": "T0NEW",
            "channel_id": "C1",
            "user_id": uid("a0"),
            "command": "/pulse",
            "text": "help",
            "api_app_id": "A0TEST",
            "response_url": slack.fake.response_url(f"help-{secrets.token_hex(4)}"),
            "trigger_id": "1.2.3",
        }
    )
    seen = len(slack.fake.calls)
    assert (await slack.post(body, "application/x-www-form-urlencoded")).status == 200
    [reply] = await slack.fake.wait_for("response_url", lambda c: c in slack.fake.calls[seen:])
    assert "kudos" in texts(reply.params)
    lookups = [c for c in slack.fake.calls[seen:] if c.method == "users.info"]
    assert lookups and all(call.params["_token"] == token for call in lookups)


async def test_someone_holding_the_database_and_its_log_finds_no_token(
    settings: Settings, fake: FakeSlack, tmp_path: Path
) -> None:
    token = f"xoxb-1-{secrets.token_hex(20)}"
    postgres = settings.database_url.startswith("postgresql")
    async with aiohttp.ClientSession() as http:
        slack = await running(settings, fake, http)
        try:
            if postgres:
                async with WalReader(settings.database_url) as wal:
                    start = await wal.mark()
                    assert (await install_from(slack, "c1", "T0NEW", token)).status == 200
                    end = await wal.mark()
                    files = await wal.segments(start, end, tmp_path / "pg_wal")
            else:
                assert (await install_from(slack, "c1", "T0NEW", token)).status == 200
                database = Path(str(make_url(settings.database_url).database))
                files = [database, Path(f"{database}-wal")]
            assert files and all(path.stat().st_size > 0 for path in files)
            for path in files:
                raw = path.read_bytes()
                assert token.encode() not in raw and token[5:].encode() not in raw, path
            dump = await every_stored_value(slack)
            assert "T0NEW" in dump and token not in dump and token[5:] not in dump
            assert all(value.startswith("gAAAAA") for value in await stored_bot_tokens(slack))
            await help_is_answered_with(slack, token)
        finally:
            await stop(slack)


async def test_tokens_an_older_version_stored_plain_are_sealed_at_the_next_start(
    settings: Settings, fake: FakeSlack
) -> None:
    token = f"xoxb-1-{secrets.token_hex(20)}"
    fake.tokens[token] = "T0NEW"
    async with aiohttp.ClientSession() as http:
        slack = await running(settings, fake, http)
        async with slack.service.db.engine.begin() as connection:  # as an older version wrote it
            await connection.execute(
                text(
                    "INSERT INTO slack_bots (client_id, app_id, team_id, bot_token, bot_id, "
                    "bot_user_id, bot_scopes, is_enterprise_install, installed_at) VALUES "
                    "(:client, 'A0TEST', 'T0NEW', :token, 'B1', 'UBOT', 'chat:write', false, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"client": CLIENT_ID, "token": token},
            )
        await stop(slack)

        slack = await running(settings, fake, http)
        try:
            [stored] = await stored_bot_tokens(slack)
            assert stored.startswith("gAAAAA") and token not in await every_stored_value(slack)
            await help_is_answered_with(slack, token)
        finally:
            await stop(slack)


async def rotate(settings: Settings, keys: str) -> str:
    env = {
        "DATABASE_URL": settings.database_url,
        "TEAMPULSE_SECRET": str(settings.secret),
        "TEAMPULSE_LOCAL_CHAT": "on",
        "TEAMPULSE_ENCRYPTION_KEYS": keys,
    }
    result = await asyncio.to_thread(CliRunner().invoke, main, ["secrets", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def test_rotation_moves_every_credential_to_the_newest_key(
    settings: Settings, fake: FakeSlack
) -> None:
    token = f"xoxb-1-{secrets.token_hex(20)}"
    first, second = Fernet.generate_key(), Fernet.generate_key()
    async with aiohttp.ClientSession() as http:
        slack = await running(settings, fake, http)  # sealed under the key derived from the secret
        try:
            assert (await install_from(slack, "c1", "T0NEW", token)).status == 200
        finally:
            await stop(slack)

    assert "Sealed 2 stored credentials" in await rotate(settings, first.decode())
    for stored in await stored_of(settings):
        assert Fernet(first).decrypt(stored.encode()).decode() == token

    await rotate(settings, f"{second.decode()},{first.decode()}")
    for stored in await stored_of(settings):
        assert Fernet(second).decrypt(stored.encode()).decode() == token
        with pytest.raises(InvalidToken):
            Fernet(first).decrypt(stored.encode())

    # the old key dropped: the bot still reads the token with the newest alone
    newest = settings.model_copy(update={"encryption_keys_raw": second.decode()})
    async with aiohttp.ClientSession() as http:
        slack = await running(newest, fake, http)
        try:
            await help_is_answered_with(slack, token)
        finally:
            await stop(slack)


async def stored_of(settings: Settings) -> list[str]:
    db = Database(settings.database_url)
    try:
        async with db.engine.connect() as connection:
            return [str(value) for value in (await connection.execute(BOT_TOKENS)).scalars()]
    finally:
        await db.dispose()


async def test_a_key_missing_from_the_list_is_named_and_nothing_changes(
    settings: Settings, fake: FakeSlack
) -> None:
    async with aiohttp.ClientSession() as http:
        slack = await running(settings, fake, http)
        try:
            assert (await install_from(slack, "c1", "T0NEW", "xoxb-1-lost")).status == 200
        finally:
            await stop(slack)
    before = await stored_of(settings)
    env = {
        "DATABASE_URL": settings.database_url,
        "TEAMPULSE_SECRET": "another-secret-than-the-one-that-sealed-them",
        "TEAMPULSE_LOCAL_CHAT": "on",
    }
    result = await asyncio.to_thread(CliRunner().invoke, main, ["secrets", "rotate"], env=env)
    assert result.exit_code == 1 and "a key it was sealed with is missing" in result.output
    assert "Traceback" not in result.output and await stored_of(settings) == before
