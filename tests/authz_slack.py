"""The authorization matrix through Slack: the real server with one served workspace and both
organisations, and each row of docs/security.md's "Who may do what" asked as Slack sends it
(signed slash commands, DM messages, button clicks, the pulse form, the App Home), from a given
user in a given workspace, with what the person is then shown, as words."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.slack.blocks import OPEN_PULSE
from bot.cards import CardForm
from bot.server import SERVICE
from bot.settings import Settings
from surveys.organisation import spec_from_yaml
from tests.authz import (
    ABOVE,
    CARD,
    COLLEAGUE,
    HOME,
    KUDOS_WORDS,
    OPERATOR_COMMANDS,
    OTHER_TRUST,
    PEOPLE,
    RECEIPT,
    TEST_TRUST,
    WARD,
)
from tests.fake_slack import TOKEN, Call, FakeSlack
from tests.slack_support import (
    SECRET,
    Slack,
    connected,
    dm_message,
    event_callback,
    home_click,
    pulse_click,
    scores,
    texts,
    uid,
    view_submission,
)
from tests.support import serve

SERVED, ELSEWHERE = "T0TEST", "T0ELSEWHERE"  # the served workspace, and one that isn't
STAFF = [f"{ward}{i}" for ward, count in (("a", 12), ("b", 6), ("t", 3)) for i in range(count)]
CHANNEL = [uid(f"a{i}") for i in range(8)] + ["UNEWCOMER"]  # #ward-a's members
_names = itertools.count(1)
IMPOSTOR = "UIMPOSTOR"  # a user of another workspace, with Ward A's manager's email


@dataclass
class World:
    slack: Slack
    round_id: int
    questions: tuple[str, ...]


@pytest.fixture
async def slack_world(settings: Settings) -> AsyncIterator[Slack]:
    """One served workspace (listed, so others are refused), both organisations imported."""
    fake = FakeSlack()
    await fake.start()
    for name in ["director", "manager.a", "manager.b", "manager.t", *STAFF]:
        fake.add_user(uid(name), f"{name}@trust.example")
    for who in PEOPLE.values():
        fake.add_user(who.slack, who.email)
    fake.add_user("UNEWCOMER", "newcomer@trust.example")
    fake.channel_members["CWARDA"] = CHANNEL
    configured = connected(
        settings,
        fake,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_workspaces_raw=SERVED,
    )
    server = await serve(configured)
    service = server.app[SERVICE]
    await service.import_organisation(spec_from_yaml(TEST_TRUST))
    await service.import_organisation(spec_from_yaml(OTHER_TRUST))
    async with aiohttp.ClientSession() as http:
        yield Slack(server.url, fake, service, http)
    await server.runner.cleanup()
    await fake.stop()


async def ward_a_pulse(slack: Slack) -> World:
    """Ward A's pulse, opened and sent to its members' DMs."""
    service = slack.service
    await service.open_round(await service.team_named(WARD))
    await service.deliver_outbox()
    [card] = await service.pending_pulses("a1@trust.example")
    return World(slack, card.round_id, tuple(q.id for q in card.questions))


# -- a row asked as Slack sends it ---------------------------------------------------------------
@dataclass
class Sent:
    responses: list[aiohttp.ClientResponse]
    read: Callable[[], Awaitable[str]]  # what the person is then shown, as words


def after(fake: FakeSlack, mark: int, method: str, **match: Any) -> list[Call]:
    return [
        call
        for call in fake.calls[mark:]
        if call.method == method and all(call.params.get(k) == v for k, v in match.items())
    ]


def dm_texts(fake: FakeSlack, mark: int, user: str) -> list[str]:
    """What the bot posted in ``user``'s DM since ``mark`` (a pulse message marked as a card)."""
    posts = after(fake, mark, "chat.postMessage", channel=f"D{user}")
    return [
        (CARD if OPEN_PULSE in json.dumps(call.params.get("blocks")) else "")
        + (texts(call.params.get("blocks")) or str(call.params.get("text")))
        for call in posts
    ]


def in_workspace(payload: dict[str, Any], team: str) -> dict[str, Any]:
    """An interaction payload as it comes from ``team``."""
    payload["team"] = {"id": team, "domain": team.lower()}
    payload["user"]["team_id"] = team
    return payload


async def slash(world: World, user: str, team: str, text: str, command: str = "/pulse") -> Sent:
    slack, name = world.slack, f"asked-{next(_names)}"
    body = urlencode(
        {
            "team_id": team,
            "team_domain": team.lower(),
            "channel_id": "CWARDA",
            "channel_name": "ward-a",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0TEST",
            "is_enterprise_install": "false",
            "response_url": slack.fake.response_url(name),
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )
    mark = len(slack.fake.calls)
    response = await slack.post(body, "application/x-www-form-urlencoded")

    async def read() -> str:
        [reply] = await slack.fake.wait_for(
            "response_url", lambda call: call.params["name"] == name
        )
        return " ".join([*dm_texts(slack.fake, mark, user), texts(reply.params)])

    return Sent([response], read)


async def in_dm(world: World, user: str, team: str, text: str) -> Sent:
    """Words written in the DM with the bot (a ``message.im`` event); the reply comes there."""
    slack = world.slack
    mark = len(slack.fake.calls)
    envelope = event_callback(dm_message(user, text), f"Ev{next(_names):08d}", team)
    response = await slack.post(json.dumps(envelope), "application/json")

    async def read() -> str:
        channel = f"D{user}"
        await slack.fake.wait_until(lambda: bool(dm_texts(slack.fake, mark, user)))
        return " ".join(dm_texts(slack.fake, mark, user)) or channel

    return Sent([response], read)


def words_of(text: Callable[[World], str], command: str = "/pulse") -> Callable[..., Any]:
    async def ask(world: World, user: str, team: str) -> Sent:
        said = text(world)
        if command == "/pulse":
            said = said.removeprefix("pulse").strip()
        elif command == "/kudos":
            said = said.removeprefix("kudos").strip()
        return await slash(world, user, team, said, command)

    return ask


async def own_trends(world: World, user: str, team: str) -> Sent:
    """The Home tab's "Latest trends" button (a forged click, for anyone but a manager)."""
    slack = world.slack
    mark = len(slack.fake.calls)
    click = in_workspace(home_click(user, {"action_id": "home_trends", "value": "trends"}), team)
    response = await slack.interaction(click)

    def shown() -> list[str]:  # the report or refusal in the DM, or the Home tab again
        tabs = after(slack.fake, mark, "views.publish", user_id=user)
        return dm_texts(slack.fake, mark, user) + [texts(tab.params["view"]) for tab in tabs]

    async def read() -> str:
        await slack.fake.wait_until(lambda: bool(shown()))
        return " ".join(shown())

    return Sent([response], read)


async def opened(world: World, user: str, team: str) -> Sent:
    """The "Answer the pulse" button with Ward A's round id (clicked on a copy, for anyone but
    its members)."""
    slack = world.slack
    mark = len(slack.fake.calls)
    click = pulse_click(user, world.round_id, f"D{user}", "1700000000.000001")
    response = await slack.interaction(in_workspace(click, team))

    async def read() -> str:
        await slack.fake.wait_until(lambda: bool(after(slack.fake, mark, "views.open")))
        [call] = after(slack.fake, mark, "views.open")
        view = call.params["view"]
        return (CARD if view.get("callback_id") == "pulse_submit" else "") + texts(view)

    return Sent([response], read)


async def answered(world: World, user: str, team: str) -> Sent:
    """A pulse form naming Ward A's round, submitted (the answers are taken before the ack)."""
    form = CardForm(world.round_id, world.questions).dumps()
    modal = {"callback_id": "pulse_submit", "private_metadata": form}
    values = scores([f"q:{question}" for question in world.questions], 4)
    response = await world.slack.interaction(
        in_workspace(view_submission(user, modal, values), team)
    )

    async def read() -> str:
        body = await response.text()
        return texts(json.loads(body)) if body.strip() else RECEIPT

    return Sent([response], read)


async def home(world: World, user: str, team: str) -> Sent:
    slack = world.slack
    mark = len(slack.fake.calls)
    opened = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
    envelope = event_callback(opened | {"event_ts": str(time.time())}, f"Ev{next(_names)}", team)
    response = await slack.post(json.dumps(envelope), "application/json")

    async def read() -> str:
        await slack.fake.wait_until(
            lambda: bool(after(slack.fake, mark, "views.publish", user_id=user))
        )
        [call] = after(slack.fake, mark, "views.publish", user_id=user)
        return f"{HOME} {texts(call.params['view'])}"

    return Sent([response], read)


async def operator(world: World, user: str, team: str) -> Sent:
    """Each operator command written in the DM, one after the other: one reply each, alike."""
    slack = world.slack
    mark = len(slack.fake.calls)
    sent = [await in_dm(world, user, team, text) for text in OPERATOR_COMMANDS]

    async def read() -> str:
        await slack.fake.wait_until(
            lambda: len(dm_texts(slack.fake, mark, user)) >= len(OPERATOR_COMMANDS)
        )
        said = dm_texts(slack.fake, mark, user)
        return said[0] if len({text[:25] for text in said}) == 1 else " | ".join(said)

    return Sent([response for one in sent for response in one.responses], read)


SLACK: dict[str, Callable[[World, str, str], Awaitable[Sent]]] = {
    "help": words_of(lambda _: "pulse help"),
    "waiting pulse": words_of(lambda _: "pulse"),
    "status": words_of(lambda _: "pulse status"),
    "own pulse times": words_of(lambda _: "pulse me nights"),
    "trends of a team": words_of(lambda _: f"pulse trends {WARD}"),
    "trends of the team above": words_of(lambda _: f"pulse trends {ABOVE}"),
    "own trends": own_trends,
    "settings shown": words_of(lambda _: f"pulse settings {WARD}"),
    "settings changed": words_of(lambda _: f"pulse settings {WARD} day fri"),
    "members synced": words_of(lambda _: f"pulse settings {WARD} sync <#CWARDA|ward-a>"),
    "pulse sent": words_of(lambda _: f"pulse send {WARD}"),
    "kudos": words_of(
        lambda _: f"kudos <@{uid(COLLEAGUE.split('@')[0])}|b1> {KUDOS_WORDS} #teamwork", "/kudos"
    ),
    "pulse opened": opened,
    "pulse answered": answered,
    "home": home,
    "operator commands": operator,
}
NO_ROUND = {"pulse sent"}  # rows asked before any pulse is open
