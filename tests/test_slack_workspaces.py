"""Many workspaces (OAuth): whatever is sent about a person or a team channel goes with the bot
token of *their* workspace, not the request's and not the latest install's.

Two workspaces install the app through the real OAuth flow; the fake Slack lets each workspace's
token see only its own people and channels (a wrong token gets ``users_not_found`` /
``channel_not_found``, as Slack would) and records the token of every call."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import aiohttp
import pytest
from sqlmodel import col, select

from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from storage.models import ConversationReference, Delivery, Person, PulseRound
from surveys.organisation import spec_from_yaml
from tests.fake_slack import CLIENT_ID, CLIENT_SECRET, Call, FakeSlack
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
from tests.support import FixedClock, email, serve

FIRST, SECOND = "T0FIRST", "T0SECOND"  # installed in this order
TOKENS = {FIRST: "xoxb-first", SECOND: "xoxb-second"}
# Ward A and Ward B's people are in the first workspace; the rest, Ward B's manager included,
# in the second.  Ward A's channel is in the first.
PEOPLE = {
    FIRST: ["manager.a", *(f"a{i}" for i in range(12)), *(f"b{i}" for i in range(6))],
    SECOND: ["director", "manager.b", "manager.t", *(f"t{i}" for i in range(3))],
}


def workspace_of(name: str) -> str:
    return next(team for team, names in PEOPLE.items() if name in names)


def token_of(name: str) -> str:
    return TOKENS[workspace_of(name)]


async def install(slack: Slack, code: str, team: str) -> None:
    """Install the app in a workspace the way an admin does: the install page, then Slack's
    redirect back with a code (exchanged at the fake's ``oauth.v2.access``)."""
    page = await slack.http.get(slack.url + "/slack/install", allow_redirects=False)
    link = re.search(r'https://slack\.com/oauth/v2/authorize\?[^"\']+', await page.text())
    assert link is not None
    [state] = parse_qs(urlparse(link.group(0).replace("&amp;", "&")).query)["state"]
    cookie = "; ".join(f"{k}={v.value}" for k, v in page.cookies.items())
    slack.fake.add_install_code(code, team, TOKENS[team])
    done = await slack.http.get(
        slack.url + "/slack/oauth_redirect?" + urlencode({"code": code, "state": state}),
        headers={"Cookie": cookie},
        allow_redirects=False,
    )
    assert done.status == 200, await done.text()


@pytest.fixture
async def workspaces(settings: Settings) -> AsyncIterator[Slack]:
    fake = FakeSlack()
    await fake.start()
    for team, names in PEOPLE.items():
        for name in names:
            fake.add_user(uid(name), email(name), team)
    fake.add_channel("CWARDA", FIRST)
    configured = connected(
        settings,
        fake,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=SECRET,
        slack_workspaces_raw=f"{FIRST},{SECOND}",
    )
    running = await serve(configured)
    service = running.app[SERVICE]
    await service.import_organisation(spec_from_yaml(ORG))
    async with aiohttp.ClientSession() as http:
        slack = Slack(running.url, fake, service, http)
        await install(slack, "code-first", FIRST)
        await install(slack, "code-second", SECOND)
        yield slack
    await running.runner.cleanup()
    await fake.stop()


async def command(slack: Slack, name: str, command: str, text: str) -> aiohttp.ClientResponse:
    """A signed slash command from ``name``, from their own workspace."""
    body = urlencode(
        {
            "team_id": workspace_of(name),
            "channel_id": "C0ANY",
            "user_id": uid(name),
            "command": command,
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": slack.fake.response_url(f"{name}-{time.monotonic_ns()}"),
            "trigger_id": "1.2.3",
        }
    )
    return await slack.post(body, "application/x-www-form-urlencoded")


async def event(
    slack: Slack, team: str, event: dict[str, Any], event_id: str
) -> aiohttp.ClientResponse:
    return await slack.post(json.dumps(event_callback(event, event_id, team)), "application/json")


async def reference_of(service: TeamPulse, name: str) -> dict[str, Any]:
    async with service.db.session() as session:
        stored = (
            await session.exec(
                select(ConversationReference.reference)
                .join(Person, col(Person.id) == col(ConversationReference.person_id))
                .where(Person.email == email(name), ConversationReference.platform == "slack")
            )
        ).one()
    value: dict[str, Any] = json.loads(stored)
    return value


def dm(name: str) -> str:
    return f"D{uid(name)}"


def posted_tokens(calls: list[Call]) -> dict[str, str]:
    return {call.params["channel"]: call.params["_token"] for call in calls}


async def test_scheduled_pulses_and_reminders_use_each_persons_workspace_token(
    workspaces: Slack,
) -> None:
    fake, service = workspaces.fake, workspaces.service
    clock = FixedClock()
    service.clock = clock
    await service.open_round(
        await service.team_named("Ward B")
    )  # its people are in the first-installed workspace
    await service.open_round(await service.team_named("Tiny"))  # in the second
    assert await service.deliver_outbox() == 9

    ward_b = [f"b{i}" for i in range(6)]
    tiny = [f"t{i}" for i in range(3)]
    expected = {dm(name): token_of(name) for name in ward_b + tiny}
    assert posted_tokens(fake.called("chat.postMessage")) == expected
    opened = fake.called("conversations.open")
    assert {c.params["users"]: c.params["_token"] for c in opened} == {
        uid(name): token_of(name) for name in ward_b + tiny
    }
    # found in each installed workspace's directory in turn (the oldest first; each read once,
    # with that workspace's token, never a look-up by email each), then remembered
    directories = [c.params["_token"] for c in fake.called("users.list")]
    assert directories == list(TOKENS.values())
    assert fake.called("users.lookupByEmail") == []
    reference = await reference_of(service, "t0")
    assert reference["team"] == SECOND and reference["user"] == uid("t0")
    assert reference["channel"] == dm("t0")

    # reminders (the day before the pulses close) need no look-up and keep to each workspace
    async with service.db.session() as session:
        closes = (await session.exec(select(PulseRound.closes_on))).first()
    assert closes is not None
    clock.now = datetime.combine(closes - timedelta(days=1), clock_time(10), UTC)
    seen = len(fake.calls)
    assert await service.send_reminders() == 9
    reminders = fake.calls[seen:]
    assert {c.method for c in reminders} == {"chat.postMessage"}
    assert all(c.params.get("thread_ts") for c in reminders)
    assert posted_tokens(reminders) == expected


async def test_pulse_send_from_one_workspace_reaches_the_team_in_another(
    workspaces: Slack,
) -> None:
    slack, fake = workspaces, workspaces.fake
    # Ward B's manager asks from the second workspace; Ward B's people are in the first
    response = await command(slack, "manager.b", "/pulse", "send")
    assert response.status == 200
    await fake.wait_for("response_url", lambda c: "Opened pulse" in texts(c.params))
    posts = fake.called("chat.postMessage")
    assert posted_tokens(posts) == {dm(f"b{i}"): TOKENS[FIRST] for i in range(6)}
    # the manager's own workspace was recorded from the request itself
    reference = await reference_of(slack.service, "manager.b")
    assert reference["team"] == SECOND and reference["user"] == uid("manager.b")
    assert fake.called("users.lookupByEmail", email=email("manager.b")) == []

    # so a DM to them later, asked for from the *first* workspace, goes with the second's token
    response = await command(slack, "a0", "/kudos", "@manager.b thanks for the rota #teamwork")
    assert response.status == 200
    [told] = await fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == dm("manager.b")
    )
    assert told.params["_token"] == TOKENS[SECOND]
    assert fake.called("users.lookupByEmail", email=email("manager.b")) == []


async def test_kudos_go_to_the_channel_and_the_person_in_their_own_workspace(
    workspaces: Slack,
) -> None:
    slack, fake = workspaces, workspaces.fake
    # t0 (second workspace) thanks a1: Ward A's channel and a1 are in the first
    response = await command(slack, "t0", "/kudos", "@a1 thanks for covering #teamwork")
    assert response.status == 200
    [posted] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == "CWARDA")
    assert posted.params["_token"] == TOKENS[FIRST]
    assert "thanks for covering" in texts(posted.params["blocks"])
    [told] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == dm("a1"))
    assert told.params["_token"] == TOKENS[FIRST]
    # the channel's workspace was asked for (the request's own first), then remembered
    asked = [c.params["_token"] for c in fake.called("conversations.info")]
    assert asked == [TOKENS[SECOND], TOKENS[FIRST]]

    response = await command(slack, "t1", "/kudos", "@a2 thank you #compassion")
    assert response.status == 200
    await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == "CWARDA", count=2)
    assert len(fake.called("conversations.info")) == 2


class Heard(logging.Handler):
    """Sets ``seen`` when a log record with these words is emitted (the uninstall's listener
    runs after Slack's event is acked, so the test waits for its log line, not for a time)."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.seen.set()


async def test_after_an_uninstall_its_people_are_unreachable_and_stay_in_the_outbox(
    workspaces: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    slack, fake, service = workspaces, workspaces.fake, workspaces.service
    # b0 talks to the bot from the first workspace, which is recorded with them
    hello = dm_message(uid("b0"), "pulse help")
    assert (await event(slack, FIRST, hello, "Ev0HELLO")).status == 200
    await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == dm("b0"))
    assert (await reference_of(service, "b0"))["team"] == FIRST

    caplog.set_level(logging.INFO, logger="adapters.slack.oauth")
    heard = Heard("uninstalled")
    logging.getLogger("adapters.slack.oauth").addHandler(heard)
    try:
        gone = await event(slack, FIRST, {"type": "app_uninstalled"}, "Ev0GONE")
        assert gone.status == 200
        await asyncio.wait_for(heard.seen.wait(), 15)
    finally:
        logging.getLogger("adapters.slack.oauth").removeHandler(heard)
    del fake.tokens[TOKENS[FIRST]]  # Slack revokes the workspace's tokens

    seen = len(fake.calls)
    await service.open_round(await service.team_named("Ward B"))
    await service.open_round(await service.team_named("Tiny"))
    assert await service.deliver_outbox() == 3  # Tiny only
    later = fake.calls[seen:]
    assert all(c.params.get("_token") == TOKENS[SECOND] for c in later)
    assert posted_tokens([c for c in later if c.method == "chat.postMessage"]) == {
        dm(f"t{i}"): TOKENS[SECOND] for i in range(3)
    }
    async with service.db.session() as session:
        waiting = (
            await session.exec(
                select(Delivery)
                .join(Person, col(Person.id) == col(Delivery.person_id))
                .where(col(Person.email).in_([email(f"b{i}") for i in range(6)]))
            )
        ).all()
    assert len(waiting) == 6
    for delivery in waiting:  # the outbox's usual rules: kept, to be tried again later
        assert delivery.status == "pending" and delivery.attempts == 1
        assert (delivery.last_error or "").startswith("Unreachable")


async def test_a_workspace_taken_off_the_list_is_never_sent_to(workspaces: Slack) -> None:
    """Both workspaces installed; the server restarts serving the first only: the second's
    people aren't looked up or sent anything with its token, and stay in the outbox."""
    fake = workspaces.fake
    narrowed = workspaces.service.settings.model_copy(update={"slack_workspaces_raw": FIRST})
    running = await serve(narrowed)
    service = running.app[SERVICE]
    try:
        seen = len(fake.calls)
        await service.open_round(await service.team_named("Tiny"))  # its people: the second's
        await service.open_round(await service.team_named("Ward B"))  # the first's
        assert await service.deliver_outbox() == 6
        later = fake.calls[seen:]
        assert later and all(c.params.get("_token") == TOKENS[FIRST] for c in later)
        assert set(posted_tokens([c for c in later if c.method == "chat.postMessage"])) == {
            dm(f"b{i}") for i in range(6)
        }
        async with service.db.session() as session:
            waiting = (
                await session.exec(
                    select(Delivery)
                    .join(Person, col(Person.id) == col(Delivery.person_id))
                    .where(col(Person.email).in_([email(f"t{i}") for i in range(3)]))
                )
            ).all()
        assert len(waiting) == 3
        assert all((d.last_error or "").startswith("Unreachable") for d in waiting)
    finally:
        await running.runner.cleanup()
