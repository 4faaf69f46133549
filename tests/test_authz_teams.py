"""Who may do what, through the real server as Teams sends it: every row of docs/security.md's
table ("Who may do what") asked by every person in their personal chat with the bot (messages,
and the cards' ``Action.Execute`` buttons, a copy of Ward A's pulse card replayed by everyone),
each seeing what the page says, and refusals changing nothing.  Members syncing is asked in a
Teams team's channel; its row is proven through Slack (``tests/test_authz_slack.py``) and the
core (``tests/test_authz_matrix.py``)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot import words
from bot.settings import Settings
from surveys.organisation import spec_from_yaml
from tests.authz import (
    ABOVE,
    CARD,
    CHANGES,
    COLLEAGUE,
    DOOR,
    HOME,
    KUDOS_WORDS,
    NAMED,
    OPERATOR_COMMANDS,
    OTHER_TRUST,
    PEOPLE,
    RECEIPT,
    TEST_TRUST,
    WARD,
    outcome,
    read_matrix,
    snapshot,
)
from tests.fake_teams import FakeTeams, Member, card_texts
from tests.teams_support import Teams, conversation_of, running
from tests.test_teams_chat import execute, submit_action, walk

MATRIX = read_matrix()
ACCOUNTS = {  # each column's person as Teams knows them
    role: Member(f"29:{who.slack}", f"aad-{who.slack}", who.email.split("@")[0], who.email)
    for role, who in PEOPLE.items()
}
NOT_IN_TEAMS = {"members synced"}  # (asked in a Teams team's channel)


@dataclass
class World:
    teams: Teams
    form: dict[str, Any]  # what Ward A's pulse card submits (a member's, replayed by anyone)
    round_id: int


@pytest.fixture
async def teams_world(settings: Settings, fake: FakeTeams) -> AsyncIterator[Teams]:
    """Both organisations on the server (Teams authentication off on purpose)."""
    for account in ACCOUNTS.values():
        fake.add_member(account)
    async for teams in running(settings.model_copy(update={"teams_auth": "off"}), fake):
        await teams.service.import_organisation(spec_from_yaml(TEST_TRUST))
        await teams.service.import_organisation(spec_from_yaml(OTHER_TRUST))
        yield teams


async def ward_a_pulse(teams: Teams) -> World:
    """Ward A's pulse opened, and its member's card with every statement answered."""
    await teams.service.open_round(await teams.service.team_named(WARD))
    member = ACCOUNTS["member"]
    mark = len(teams.fake.calls)
    await teams.say(member, "pulse")
    [card] = [c for c in shown_cards(teams, mark, member) if "pulse.submit" in json.dumps(c)]
    choices = [e["id"] for e in walk(card) if e.get("type") == "Input.ChoiceSet"]
    answers = {choice: "4" for choice in choices if choice != "about"}
    form = {**submit_action(card)["data"], **answers, "about": "general"}
    [pending] = await teams.service.pending_pulses(member.email)
    return World(teams, form, pending.round_id)


def shown_cards(teams: Teams, mark: int, who: Member) -> list[dict[str, Any]]:
    found = []
    for call in teams.fake.calls[mark:]:
        if call.method == "send" and call.params.get("conversation") == conversation_of(who):
            attachments = call.params["activity"].get("attachments") or []
            found += [item.get("content") or {} for item in attachments]
    return found


def shown(teams: Teams, mark: int, who: Member) -> str:
    """Everything the bot sent to the person's chat since ``mark``, as words (a pulse card
    marked as one)."""
    said = []
    for call in teams.fake.calls[mark:]:
        if call.method != "send" or call.params.get("conversation") != conversation_of(who):
            continue
        activity = call.params["activity"]
        cards = [item.get("content") for item in activity.get("attachments") or []]
        text = " ".join(card_texts(cards)) if cards else str(activity.get("text") or "")
        said.append((CARD if "pulse.submit" in json.dumps(cards) else "") + read(text))
    return " ".join(said)


def read(markdown: str) -> str:
    """Teams Markdown as the page's words: bold as the core writes it (``*…*``), and every
    backslash escape as the character a person sees."""
    return re.sub(r"\\(.)", r"\1", markdown.replace("**", "*"))


def as_seen(card: dict[str, Any]) -> str:
    """A card shown in place of the clicked one, as words."""
    text = read(" ".join(card_texts(card)))
    if "pulse.submit" in json.dumps(card):
        return CARD + text
    return (RECEIPT if "your answers to the" in text else "") + text


Ask = Callable[[World, Member], Awaitable[str]]


def says(text: str) -> Ask:
    async def ask(world: World, who: Member) -> str:
        mark = len(world.teams.fake.calls)
        assert (await world.teams.say(who, text)).status < 300
        return shown(world.teams, mark, who)

    return ask


def clicks(verb: str, data: Callable[[World], dict[str, Any]]) -> Ask:
    async def ask(world: World, who: Member) -> str:
        url = world.teams.fake.service_url
        response = await world.teams.post(execute(who, url, verb, data(world)))
        assert response.status == 200
        return as_seen((await response.json())["value"])

    return ask


async def own_trends(world: World, who: Member) -> str:
    """The home card's trends button: the report (or refusal) is sent below it."""
    teams, mark = world.teams, len(world.teams.fake.calls)
    response = await teams.post(execute(who, teams.fake.service_url, "trends", {}))
    assert response.status == 200
    return shown(teams, mark, who)


async def home(world: World, who: Member) -> str:
    teams, mark = world.teams, len(world.teams.fake.calls)
    await teams.say(who, "home")
    cards = json.dumps(shown_cards(teams, mark, who))
    trends = words.LATEST_TRENDS if '"verb": "trends"' in cards else ""
    return f"{HOME} {shown(teams, mark, who)} {trends}"


async def operator(world: World, who: Member) -> str:
    said = [await says(text)(world, who) for text in OPERATOR_COMMANDS]
    return said[0] if len({text[:25] for text in said}) == 1 else " | ".join(said)


TEAMS: dict[str, Ask] = {
    "help": says("pulse help"),
    "waiting pulse": says("pulse"),
    "status": says("pulse status"),
    "own pulse times": says("pulse me nights"),
    "trends of a team": says(f"pulse trends {WARD}"),
    "trends of the team above": says(f"pulse trends {ABOVE}"),
    "own trends": own_trends,
    "settings shown": says(f"pulse settings {WARD}"),
    "settings changed": says(f"pulse settings {WARD} day fri"),
    "pulse sent": says(f"pulse send {WARD}"),
    "kudos": says(f"kudos @{COLLEAGUE} {KUDOS_WORDS} #teamwork"),
    "pulse opened": clicks("pulse.open", lambda world: {"round": world.round_id}),
    "pulse answered": clicks("pulse.submit", lambda world: world.form),
    "home": home,
    "operator commands": operator,
}


def test_every_row_of_the_page_but_a_channels_is_asked_through_teams() -> None:
    assert set(TEAMS) == set(MATRIX.cells) - NOT_IN_TEAMS


@pytest.mark.parametrize("action", list(TEAMS))
async def test_who_may_do_what_through_teams(teams_world: Teams, action: str) -> None:
    teams = teams_world
    world = World(teams, {}, 0) if action == "pulse sent" else await ward_a_pulse(teams)
    wrong = []
    for role, expected in MATRIX.cells[action].items():
        if role == DOOR:
            continue
        before = await snapshot(teams.service.db)
        got = outcome(
            await TEAMS[action](world, ACCOUNTS[role]), PEOPLE[role], named=NAMED.get(action)
        )
        if got != expected:
            wrong.append(f"{role}: {got}, the page says {expected}")
        elif expected not in CHANGES:
            assert await snapshot(teams.service.db) == before, f"{action} by {role} changed"
    assert not wrong, "\n".join(wrong)
