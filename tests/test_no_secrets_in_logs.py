"""No token or secret ever appears in a log line or an error reply (issue 14, "Secrets").

The real server runs Slack over OAuth and authenticated Teams, with every logger at DEBUG (the
Slack SDKs, aiohttp, botbuilder, MSAL and SQLAlchemy included: what an operator chasing a fault
would turn on) through the project's own log handler.  A workspace installs the app, people use
commands and events on both platforms, and requests are refused (bad signatures, forged tokens,
Slack API errors).  Every captured line, traceback and reply body is then searched for every
secret value of the configuration and every token handed out.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode

import aiohttp
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.logs import log_handler
from bot.settings import Settings
from tests import test_teams_tokens
from tests.fake_aad import FakeAzureAD
from tests.fake_slack import CLIENT_SECRET, TOKEN
from tests.slack_support import (
    SECRET,
    Slack,
    dm_message,
    event_callback,
    over_oauth,
    texts,
    uid,
)
from tests.support import email
from tests.teams_support import APP_ID, TENANT, Teams, member, personal_message
from tests.test_slack_oauth import install_from
from tests.test_teams import KeyServer, token
from tests.test_teams import key_server as key_server  # (a fixture)
from tests.test_teams_tokens import SECRET as APP_PASSWORD
from tests.test_teams_tokens import WatchedTeams

aad = test_teams_tokens.aad  # the fake Azure AD (a fixture)
connector = test_teams_tokens.connector  # the fake Bot Connector, keeping headers (a fixture)

LOUD = (
    "slack_sdk",
    "slack_bolt",
    "aiohttp",
    "botbuilder",
    "botframework",
    "msal",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "urllib3",
    "asyncio",
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record at DEBUG, through the handler ``teampulse serve`` logs with."""
    stream = io.StringIO()
    handler = log_handler("text", stream)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *LOUD)}
    root.addHandler(handler)
    for name in ("", *LOUD):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def aad_tokens(teams: Teams) -> set[str]:
    assert isinstance(teams.fake, WatchedTeams)
    return {header.removeprefix("Bearer ") for header in teams.fake.authorizations if header}


class Replies:
    """Every body the server answered with."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def keep(self, response: aiohttp.ClientResponse) -> aiohttp.ClientResponse:
        self.bodies.append(await response.text())
        return response


def assert_nowhere(secret_values: dict[str, str], *texts_seen: str) -> None:
    for name, value in secret_values.items():
        assert len(value) >= 8, name
        for seen in texts_seen:
            assert value not in seen, f"{name} leaked"


@pytest.fixture
async def both(
    settings: Settings,
    key_server: KeyServer,
    aad: FakeAzureAD,
    connector: WatchedTeams,
) -> AsyncIterator[tuple[Slack, Teams]]:
    async with over_oauth(
        settings,
        workspaces="T0NEW",
        users={uid("a0"): (email("a0"), None)},
        microsoft_app_id=APP_ID,
        microsoft_app_password=APP_PASSWORD,
        teams_tenants_raw=TENANT,
        teams_openid_metadata_url=key_server.url,
        teams_login_url=aad.authority,
        encryption_keys_raw=Fernet.generate_key().decode(),
        metrics_token=secrets.token_urlsafe(16),
    ) as slack:
        yield slack, Teams(slack.url, connector, slack.service, slack.http)


async def test_no_secret_in_any_log_line_or_reply_over_oauth_and_teams(
    both: tuple[Slack, Teams], captured: io.StringIO, key_server: KeyServer
) -> None:
    slack, teams = both
    settings = slack.service.settings
    replies = Replies()
    installed = f"xoxb-2-{secrets.token_hex(24)}"

    # an install, then a command, an event and an interaction from the workspace
    await replies.keep(await install_from(slack, "c1", "T0NEW", installed))
    command = urlencode(
        {
            "team_id": "T0NEW",
            "channel_id": "C1",
            "user_id": uid("a0"),
            "command": "/pulse",
            "text": "help",
            "api_app_id": "A0TEST",
            "response_url": slack.fake.response_url("help"),
            "trigger_id": "1.2.3",
        }
    )
    await replies.keep(await slack.post(command, "application/x-www-form-urlencoded"))
    [answered] = await slack.fake.wait_for("response_url")
    assert "kudos" in texts(answered.params)
    dm = dm_message(uid("a0"), "pulse status")
    envelope = json.dumps(event_callback(dm, "Ev-status", team="T0NEW"))
    await replies.keep(await slack.post(envelope, "application/json"))
    await slack.fake.wait_for("chat.postMessage")

    # Slack refuses a call: the error is logged, and told to nobody with a token in it
    slack.fake.fail_next("users.info", "invalid_auth")
    again = command.replace("help", "status").replace("response_url=", "response_url=x")
    await replies.keep(await slack.post(again, "application/x-www-form-urlencoded"))

    # refused requests: wrong signature, a stale one, a forged Bot Framework token
    await replies.keep(
        await slack.post(command, "application/x-www-form-urlencoded", secret="wrong-secret")
    )
    await replies.keep(await slack.http.post(slack.url + "/slack/events", data=command, headers={}))
    a1 = member("a1")
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {"Authorization": f"Bearer {token(forger, 'trusted', teams.fake.service_url)}"}
    await replies.keep(
        await teams.post(personal_message(a1, "pulse help", teams.fake.service_url), forged)
    )
    await replies.keep(await teams.http.get(slack.url + "/metrics"))
    await replies.keep(
        await teams.http.get(slack.url + "/metrics", headers={"Authorization": "Bearer nope-nope"})
    )

    # Teams: a person asks, the bot answers through the Bot Connector with its own token
    signed = {
        "Authorization": f"Bearer {token(key_server.trusted, 'trusted', teams.fake.service_url)}"
    }
    message = personal_message(a1, "pulse help", teams.fake.service_url)
    assert (await replies.keep(await teams.post(message, signed))).status == 201
    assert teams.fake.called("send")
    bot_tokens = {
        f"Bot Connector token {n}": header.removeprefix("Bearer ")
        for n, header in enumerate(set(teams.fake.authorizations))
        if len(header.removeprefix("Bearer ")) >= 8
    }

    logs = captured.getvalue()
    assert "slack_sdk" in logs and "Sending a request" in logs  # the SDKs did log at DEBUG
    assert ("oauth.v2.access" in logs and "botbuilder" in logs) or "msal" in logs
    secret_values = {
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "TEAMPULSE_SECRET": str(settings.secret),
        "MicrosoftAppPassword": APP_PASSWORD,
        "TEAMPULSE_ENCRYPTION_KEYS": str(settings.encryption_keys_raw),
        "TEAMPULSE_METRICS_TOKEN": str(settings.metrics_token),
        "the installed bot token": installed,
        "its secret part": installed.removeprefix("xoxb-"),
        **bot_tokens,
    }
    assert_nowhere(secret_values, logs, *replies.bodies)
    issued = [f"Bearer {t}" for t in aad_tokens(teams)]  # (the fake's are short: token-1, …)
    assert issued and not any(
        header in text for header in issued for text in (logs, *replies.bodies)
    )
    assert "[redacted]" in logs  # (the SDK logged the token exchange: redacted, not dropped)


async def test_no_secret_in_any_log_line_or_reply_in_one_workspace_mode(
    slack: Slack, captured: io.StringIO
) -> None:
    replies = Replies()
    await replies.keep(await slack.command("/pulse", "help", uid("a0")))
    await slack.fake.wait_for("response_url")
    await replies.keep(await slack.event(dm_message(uid("a1"), "pulse status"), "Ev-one"))
    await slack.fake.wait_for("chat.postMessage")
    slack.fake.fail_next("chat.postMessage", "not_authed")
    await replies.keep(await slack.event(dm_message(uid("a2"), "pulse status"), "Ev-two"))
    await slack.fake.wait_for("users.info", lambda call: call.params.get("user") == uid("a2"))
    await replies.keep(await slack.command("/pulse", "help", uid("a0"), secret="wrong-secret"))

    logs = captured.getvalue()
    assert "chat.postMessage" in logs
    secret_values = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "TEAMPULSE_SECRET": str(slack.service.settings.secret),
    }
    assert_nowhere(secret_values, logs, *replies.bodies)
