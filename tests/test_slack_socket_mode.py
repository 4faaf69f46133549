"""Slack in Socket Mode, end to end: the real server (app token + bot token, no signing secret)
connects over a real WebSocket to the fake Slack (``tests/fake_socket_mode.py``), which pushes
envelopes and waits for their acks; answers go to the fake Web API and ``response_url``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, web

from adapters.slack import slack_mode
from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from surveys.organisation import spec_from_yaml
from tests.fake_slack import TOKEN
from tests.fake_socket_mode import APP_TOKEN, FakeSocketMode
from tests.slack_support import (
    ORG,
    SECRET,
    Slack,
    connected,
    dm_message,
    event_callback,
    texts,
    uid,
)
from tests.support import email, serve

USER = uid("a2")
DM = f"D{USER}"


@dataclass
class SocketSlack:
    fake: FakeSocketMode
    service: TeamPulse
    runner: web.AppRunner
    stopped: bool = False

    async def stop(self) -> None:
        """Shut the server down (once): what ``teampulse serve`` does on SIGTERM."""
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


def socket_settings(
    settings: Settings, fake: FakeSocketMode, secret: str | None = None
) -> Settings:
    configured = connected(
        settings,
        fake,
        slack_app_token=APP_TOKEN,
        slack_bot_token=TOKEN,
        slack_signing_secret=secret,
    )
    assert slack_mode(configured) == "socket"
    return configured


@pytest.fixture
async def socket_slack(settings: Settings) -> AsyncIterator[SocketSlack]:
    fake = FakeSocketMode()
    await fake.start()
    fake.add_user(USER, email("a2"))
    configured = socket_settings(settings, fake)  # no signing secret: no /slack/events
    running = await serve(configured)
    service = running.app[SERVICE]
    await service.import_organisation(spec_from_yaml(ORG))
    slack = SocketSlack(fake, service, running.runner)
    yield slack
    await slack.stop()
    await fake.stop()


def to_dm(call: Any) -> bool:
    return bool(call.params["channel"] == DM)


async def test_a_dm_over_the_socket_is_acked_and_answered(socket_slack: SocketSlack) -> None:
    fake = socket_slack.fake
    # the server connected at start-up, with the app token (and said nothing else to Slack)
    [opened] = fake.called("apps.connections.open")
    assert opened.params["_token"] == APP_TOKEN and opened.answer["ok"]
    await fake.wait_for("socket.connect")

    payload = event_callback(dm_message(USER, "pulse help", "1700000100.000100"), "Ev0SOCKHELP")
    ack = await fake.push("events_api", payload)
    assert set(ack) == {"envelope_id"}  # a bare ack: an event's ack carries no answer
    [reply] = await fake.wait_for("chat.postMessage", to_dm)
    assert "kudos" in texts(reply.params["blocks"])
    assert reply.params["_token"] == TOKEN  # answers use the bot token, never the app token


async def test_a_slash_command_over_the_socket_is_acked_then_answered(
    socket_slack: SocketSlack,
) -> None:
    fake = socket_slack.fake
    form = {  # a slash_commands envelope's payload: the command's form fields
        "token": "deprecated",
        "team_id": "T0TEST",
        "team_domain": "test",
        "channel_id": "CWARDA",
        "channel_name": "ward-a",
        "user_id": USER,
        "user_name": "a2",
        "command": "/pulse",
        "text": "status",
        "api_app_id": "A0TEST",
        "is_enterprise_install": "false",
        "response_url": fake.response_url("pulse-status"),
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }
    ack = await fake.push("slash_commands", form)
    assert set(ack) == {"envelope_id"}  # acked at once; the answer follows through response_url
    [reply] = await fake.wait_for("response_url", lambda c: c.params["name"] == "pulse-status")
    assert "Your teams" in texts(reply.params)
    assert reply.params.get("response_type") == "ephemeral"


async def test_a_redelivered_envelope_is_acked_but_answered_once(
    socket_slack: SocketSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake = socket_slack.fake
    caplog.set_level(logging.INFO, logger="adapters.slack.bolt")
    payload = event_callback(dm_message(USER, "pulse help", "1700000300.000100"), "Ev0SOCKTWICE")
    await fake.push("events_api", payload)
    await fake.wait_for("chat.postMessage", to_dm)
    # Slack lost the ack and sends the same event again, in a new envelope
    again = await fake.push("events_api", payload, retry_attempt=1, retry_reason="timeout")
    assert set(again) == {"envelope_id"}
    assert "Slack event redelivered (retry 1); already handled" in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    # another event is still handled; the repeat was not
    status = event_callback(dm_message(USER, "pulse status", "1700000301.000100"), "Ev0SOCKNEXT")
    await fake.push("events_api", status)
    replies = await fake.wait_for("chat.postMessage", to_dm, count=2)
    assert sum("kudos" in texts(c.params["blocks"]) for c in replies) == 1
    assert sum("Your teams" in texts(c.params["blocks"]) for c in replies) == 1
    acks = fake.called("socket.ack")
    assert len(acks) == 3 and len({c.params["envelope_id"] for c in acks}) == 3


async def test_the_socket_is_closed_at_shutdown(socket_slack: SocketSlack) -> None:
    fake = socket_slack.fake
    await fake.wait_for("socket.connect")
    assert fake.called("socket.close") == []
    await socket_slack.stop()
    [closed] = await fake.wait_for("socket.close")
    assert closed.params["code"] == WSCloseCode.OK
    assert len(fake.called("apps.connections.open")) == 1  # closed for good: no reconnecting


async def test_with_a_signing_secret_events_over_http_are_still_answered(
    settings: Settings,
) -> None:
    """The optional ``/slack/events`` route in Socket Mode: its gate records the event id, and the
    socket's dedupe middleware must not then take the same request for a repeat."""
    fake = FakeSocketMode()
    await fake.start()
    fake.add_user(USER, email("a2"))
    running = await serve(socket_settings(settings, fake, SECRET))
    try:
        await running.app[SERVICE].import_organisation(spec_from_yaml(ORG))
        async with aiohttp.ClientSession() as http:
            slack = Slack(running.url, fake, running.app[SERVICE], http)
            response = await slack.event(
                dm_message(USER, "pulse help", "1700000400.000100"), "Ev0HTTP"
            )
            assert response.status == 200 and "X-Slack-No-Retry" not in response.headers
            [reply] = await fake.wait_for("chat.postMessage", to_dm)
            assert "kudos" in texts(reply.params["blocks"])
            # and the same event over the socket afterwards is a repeat
            again = event_callback(dm_message(USER, "pulse help", "1700000400.000100"), "Ev0HTTP")
            await fake.push("events_api", again, retry_attempt=1, retry_reason="timeout")
            status = event_callback(
                dm_message(USER, "pulse status", "1700000401.000100"), "Ev0HTTPNEXT"
            )
            await fake.push("events_api", status)
            replies = await fake.wait_for("chat.postMessage", to_dm, count=2)
            assert sum("kudos" in texts(c.params["blocks"]) for c in replies) == 1
    finally:
        await running.runner.cleanup()
        await fake.stop()
