"""Shared by the Slack tests: the real server on a real port, real signed requests into
``/slack/events``, and a local fake of the Slack Web API (``tests/fake_slack.py``) behind
``SLACK_API_URL``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlmodel import select

from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from storage.models import Response, Role, Team
from surveys import directory
from surveys.organisation import spec_from_yaml
from tests.fake_slack import CLIENT_ID, CLIENT_SECRET, TOKEN, FakeSlack
from tests.support import ORG_YAML, email, serve

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ORG = ORG_YAML.replace("  - name: Ward A\n", "  - name: Ward A\n    channel: {slack: CWARDA}\n", 1)


def uid(name: str) -> str:
    return "U" + name.upper().replace(".", "")


@dataclass
class Slack:
    url: str
    fake: FakeSlack
    service: TeamPulse
    http: aiohttp.ClientSession

    def headers(
        self, body: str, *, timestamp: int | None = None, secret: str = SECRET
    ) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        extra: dict[str, str] | None = None,
        **signing: Any,
    ) -> aiohttp.ClientResponse:
        headers = {"Content-Type": content_type, **self.headers(body, **signing), **(extra or {})}
        response = await self.http.post(
            self.url + "/slack/events", data=body.encode(), headers=headers
        )
        await response.read()
        return response

    async def command(
        self, command: str, text: str, user: str, **signing: Any
    ) -> aiohttp.ClientResponse:
        body = urlencode(
            {
                "token": "deprecated",
                "team_id": "T0TEST",
                "team_domain": "test",
                "channel_id": "CWARDA",
                "channel_name": "ward-a",
                "user_id": user,
                "user_name": "someone",
                "command": command,
                "text": text,
                "api_app_id": "A0TEST",
                "is_enterprise_install": "false",
                "response_url": self.fake.response_url(f"{command.lstrip('/')}-{user}"),
                "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded", **signing)

    async def interaction(self, payload: dict[str, Any]) -> aiohttp.ClientResponse:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def event(
        self, event: dict[str, Any], event_id: str, retry: int | None = None
    ) -> aiohttp.ClientResponse:
        envelope = event_callback(event, event_id)
        extra = (
            {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            if retry
            else None
        )
        return await self.post(json.dumps(envelope), "application/json", extra=extra)


# -- payloads, as Slack sends them ---------------------------------------------------------------
def question_blocks(modal: dict[str, Any]) -> list[str]:
    """The block ids of a pulse modal's questions (``q:…``), in order."""
    return [b["block_id"] for b in modal["blocks"] if b.get("block_id", "").startswith("q:")]


def scores(blocks: list[str], score: int | Callable[[int], int]) -> dict[str, Any]:
    """A modal's ``state.values`` with a radio button picked in each question block: ``score``,
    or ``score(n)`` for the n-th block."""
    return {
        block: {
            "score": {
                "type": "radio_buttons",
                "selected_option": {"value": str(score(n) if callable(score) else score)},
            }
        }
        for n, block in enumerate(blocks)
    }


def comment(text: str) -> dict[str, Any]:
    """The pulse modal's comment box, filled in (to merge into ``state.values``)."""
    return {"comment": {"text": {"type": "plain_text_input", "value": text}}}


def view_submission(
    user: str, modal: dict[str, Any], values: dict[str, Any], view_id: str = "V0001"
) -> dict[str, Any]:
    """``user`` submits ``modal`` (the view as ``views.open`` got it) with ``values``."""
    view: dict[str, Any] = {
        "id": view_id,
        "type": "modal",
        "callback_id": modal["callback_id"],
        "state": {"values": values},
        "hash": "156772938.1827394",
    }
    if "private_metadata" in modal:
        view["private_metadata"] = modal["private_metadata"]
    return {
        "type": "view_submission",
        "team": {"id": "T0TEST", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "trigger_id": "12466734323.1395872399",
        "view": view,
        "response_urls": [],
    }


def form_submission(person: str, metadata: str, values: dict[str, Any]) -> dict[str, Any]:
    """``person`` submits a pulse form carrying ``metadata`` as its ``private_metadata`` (a form
    as an earlier version, or an attacker, built it)."""
    modal = {"callback_id": "pulse_submit", "private_metadata": metadata}
    return view_submission(uid(person), modal, values, view_id="V0009")


def block_actions(
    user: str,
    action: dict[str, Any],
    container: dict[str, Any],
    trigger_id: str = "12466734323.1395872398",
    **more: Any,
) -> dict[str, Any]:
    """``user`` clicks a button (``action``: its ``action_id`` and ``value``) in ``container``."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "team": {"id": "T0TEST", "domain": "test"},
        "container": container,
        "trigger_id": trigger_id,
        "actions": [{"block_id": "x", "type": "button", "action_ts": "1700000001.2", **action}],
        **more,
    }


def pulse_click(user: str, round_id: int, channel_id: str, ts: str, **more: Any) -> dict[str, Any]:
    """``user`` clicks the pulse button of the DM message ``ts`` in ``channel_id``."""
    container = {
        "type": "message",
        "message_ts": ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    action = {"action_id": "pulse_open", "block_id": "pulse", "value": str(round_id)}
    return block_actions(user, action, container, **more)


def home_click(user: str, action: dict[str, Any]) -> dict[str, Any]:
    """``user`` clicks a button (``action``) on their Home tab."""
    container = {"type": "view", "view_id": "VHOME"}
    home = {"id": "VHOME", "type": "home"}
    return block_actions(user, action, container, "12466734323.1395872401", view=home)


def connected(settings: Settings, fake: FakeSlack, **credentials: str | None) -> Settings:
    """The test settings with Slack credentials, the Web API at the fake, and no web chat."""
    return settings.model_copy(
        update={**credentials, "slack_api_url": fake.api_url, "local_chat": None}
    )


def event_callback(event: dict[str, Any], event_id: str, team: str = "T0TEST") -> dict[str, Any]:
    """An Events API envelope, as Slack POSTs it to the Request URL (or sends it over a socket)."""
    return {
        "token": "deprecated",
        "team_id": team,
        "api_app_id": "A0TEST",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
    }


def dm_message(user: str, text: str, ts: str = "1700000100.000100") -> dict[str, Any]:
    """A ``message`` event: ``user`` (a Slack id) writes ``text`` in their DM with the bot."""
    return {
        "type": "message",
        "channel": f"D{user}",
        "user": user,
        "text": text,
        "ts": ts,
        "channel_type": "im",
    }


@pytest.fixture
async def slack(settings: Settings) -> AsyncIterator[Slack]:
    fake = FakeSlack()
    await fake.start()
    for name in ["director", "manager.a", "manager.b", "manager.t"] + [
        f"{w}{i}" for w, n in (("a", 12), ("b", 6), ("t", 3)) for i in range(n)
    ]:
        fake.add_user(uid(name), email(name))
    configured = connected(settings, fake, slack_bot_token=TOKEN, slack_signing_secret=SECRET)
    assert not configured.local_mode
    running = await serve(configured)
    app, runner = running.app, running.runner
    service = app[SERVICE]
    await service.import_organisation(spec_from_yaml(ORG))
    async with aiohttp.ClientSession() as http:
        yield Slack(running.url, fake, service, http)
    await runner.cleanup()
    await fake.stop()


@asynccontextmanager
async def over_oauth(
    settings: Settings,
    *,
    workspaces: str,
    users: Mapping[str, tuple[str, str | None]],
    organisations: Iterable[str] = (ORG,),
    **more: str | None,
) -> AsyncIterator[Slack]:
    """The real server with Slack over OAuth (the fake's client id and secret, our signing
    secret), serving ``workspaces`` (comma-separated ids), with ``users`` (Slack id -> (email,
    workspace or None)) at the fake and ``organisations`` (YAML) imported.  ``more`` adds
    settings, such as Teams credentials for a test that serves both platforms on one server."""
    fake = FakeSlack()
    await fake.start()
    try:
        for user, (address, team) in users.items():
            fake.add_user(user, address, team)
        configured = connected(
            settings,
            fake,
            slack_client_id=CLIENT_ID,
            slack_client_secret=CLIENT_SECRET,
            slack_signing_secret=SECRET,
            slack_workspaces_raw=workspaces,
            **more,
        )
        running = await serve(configured)
        try:
            service = running.app[SERVICE]
            for organisation in organisations:
                await service.import_organisation(spec_from_yaml(organisation))
            async with aiohttp.ClientSession() as http:
                yield Slack(running.url, fake, service, http)
        finally:
            await running.runner.cleanup()
    finally:
        await fake.stop()


def texts(blocks: Any) -> str:
    """Every string in a Block Kit structure, joined (what a person could read)."""
    if isinstance(blocks, str):
        return blocks
    if isinstance(blocks, dict):
        return " ".join(texts(v) for v in blocks.values())
    if isinstance(blocks, list):
        return " ".join(texts(v) for v in blocks)
    return ""


async def all_responses(service: TeamPulse) -> list[Response]:
    async with service.db.session() as session:
        return list((await session.exec(select(Response))).all())


async def members_of(slack: Slack, team: str, role: Role = Role.MEMBER) -> set[str]:
    """The emails of a team's members (or managers), read from the database."""
    async with slack.service.db.session() as session:
        found = await slack.service.team_named(team)
        return {person.email for person in await directory.members(session, found.id, role)}


async def sync_source(slack: Slack, team: str) -> str | None:
    """The channel or user group the team's members are kept in step with, if any, as Slack names
    it (the stored member source is ``slack:<that id>``)."""
    async with slack.service.db.session() as session:
        found = await session.get(Team, (await slack.service.team_named(team)).id)
        assert found is not None
    if found.member_source is None:
        return None
    platform, _, source = found.member_source.partition(":")
    assert platform == "slack", found.member_source
    return source


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    """Work done after an ack (an event's listener) shows in the database: ``check`` is read
    again until it holds, and the test fails at the deadline."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout}s")
        await asyncio.sleep(0.01)  # the polling interval, not a guess at how long the work takes
