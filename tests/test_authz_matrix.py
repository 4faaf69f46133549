"""Who may do what, cell by cell, exactly as docs/security.md's table says ("Who may do what").

The table is read from the page.  Each row is driven through the service's entries (the
``Conversation`` every platform calls: words, a pulse card opened or submitted, members synced,
the home page) for each person of its columns, on a fresh organisation per row; the outcome each
one sees must be the cell's, and whatever isn't a "done" outcome must change nothing.  Where the
page promises a refusal that reveals nothing ("no such team", "no such person", "gone", "not
sent"), the reply must be word for word the reply to something that doesn't exist.  Every row is
asked through the real server with signed Slack requests in ``tests/test_authz_slack.py``, and
the platform column ("another workspace or tenant") is proven in ``tests/test_authz_doors.py``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.conversation import Conversation
from bot.member_sync import Members, Source
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import PulseCard, Reply
from storage.engine import Database
from tests.authz import (
    ABOVE,
    CHANGES,
    COLLEAGUE,
    DOC,
    DOOR,
    KUDOS_WORDS,
    MADE_UP_PERSON,
    MADE_UP_ROUND,
    MADE_UP_TEAM,
    NAMED,
    OPERATOR_COMMANDS,
    OTHER_TRUST,
    PEOPLE,
    TEST_TRUST,
    WARD,
    Shown,
    outcome_of,
    read_matrix,
    seen,
    snapshot,
)
from tests.support import FixedClock, RecordingMessenger, answers_for, import_org

MATRIX = read_matrix()
HIDDEN = {"no such team", "no such person", "gone", "not sent"}  # must match a made-up thing


@dataclass
class World:
    service: TeamPulse
    conversation: Conversation
    card: PulseCard | None  # Ward A's open pulse, as its members got it


async def world(db: Database, settings: Settings, *, round_open: bool) -> World:
    await import_org(db, TEST_TRUST)
    await import_org(db, OTHER_TRUST)
    messenger: Any = RecordingMessenger()  # (records what is sent; no platform)
    service = TeamPulse(db, settings, messenger, clock=FixedClock())
    card = None
    if round_open:
        await service.open_round(await service.team_named(WARD))
        await service.deliver_outbox()
        [card] = await service.pending_pulses("a1@trust.example")
    return World(service, Conversation(service), card)


def views(replies: list[Reply]) -> list[Shown]:
    return [reply.view for reply in replies]


Driver = Callable[[World, str, bool], Awaitable[list[Shown]]]


def words_of(text: Callable[[bool], str]) -> Driver:
    """A row asked with words: ``text(made_up)``."""

    async def drive(world: World, email: str, made_up: bool) -> list[Shown]:
        return views(await world.conversation.ask(email, text(made_up)))

    return drive


def team(made_up: bool) -> str:
    return MADE_UP_TEAM if made_up else WARD


async def synced(world: World, email: str, made_up: bool) -> list[Shown]:
    async def channel() -> Members:  # the channel's members, as the platform lists them
        return Members([f"a{i}@trust.example" for i in range(8)] + ["new@trust.example"], 0)

    source = Source("slack", "CWARDA", "channel", "#ward-a")
    return views(await world.conversation.sync_members(email, team(made_up), source, channel))


async def opened(world: World, email: str, made_up: bool) -> list[Shown]:
    assert world.card is not None
    round_id = MADE_UP_ROUND if made_up else world.card.round_id
    return [await world.conversation.open_card(email, round_id)]


async def answered(world: World, email: str, made_up: bool) -> list[Shown]:
    card = world.card
    assert card is not None
    round_id = MADE_UP_ROUND if made_up else card.round_id
    asked = [question.id for question in card.questions]
    return [
        await world.conversation.submit_card(
            email, round_id, answers_for(card), "", None, asked=asked
        )
    ]


async def home(world: World, email: str, made_up: bool) -> list[Shown]:
    return [await world.conversation.home(email)]


async def operator(world: World, email: str, made_up: bool) -> list[Shown]:
    found: list[Shown] = []
    for text in OPERATOR_COMMANDS:
        found += views(await world.conversation.ask(email, text))
    return found


DRIVERS: dict[str, Driver] = {
    "help": words_of(lambda _: "pulse help"),
    "waiting pulse": words_of(lambda _: "pulse"),
    "status": words_of(lambda _: "pulse status"),
    "own pulse times": words_of(lambda _: "pulse me nights"),
    "trends of a team": words_of(lambda made_up: f"pulse trends {team(made_up)}"),
    "trends of the team above": words_of(
        lambda made_up: f"pulse trends {MADE_UP_TEAM if made_up else ABOVE}"
    ),
    "own trends": words_of(lambda _: "pulse trends"),
    "settings shown": words_of(lambda made_up: f"pulse settings {team(made_up)}"),
    "settings changed": words_of(lambda made_up: f"pulse settings {team(made_up)} day fri"),
    "members synced": synced,
    "pulse sent": words_of(lambda made_up: f"pulse send {team(made_up)}"),
    "kudos": words_of(
        lambda made_up: f"kudos @{MADE_UP_PERSON if made_up else COLLEAGUE} {KUDOS_WORDS} #teamwork"
    ),
    "pulse opened": opened,
    "pulse answered": answered,
    "home": home,
    "operator commands": operator,
}
ROUND_OPEN = {"waiting pulse", "status", "pulse opened", "pulse answered", "home"}


def test_every_row_of_the_page_is_driven_and_every_outcome_is_explained() -> None:
    assert set(MATRIX.cells) == set(DRIVERS)
    assert set(MATRIX.roles) == set(PEOPLE) | {DOOR}
    used = {cell for row in MATRIX.cells.values() for cell in row.values()}
    assert used == MATRIX.outcomes  # every cell explained, no outcome explained for nothing


def as_real(text: str) -> str:
    """A reply about the made-up team or person, as if about the real one."""
    return text.replace(MADE_UP_TEAM, WARD).replace(MADE_UP_PERSON, COLLEAGUE)


def as_real_above(text: str) -> str:
    return text.replace(MADE_UP_TEAM, ABOVE)


@pytest.mark.parametrize("action", list(DRIVERS))
async def test_who_may_do_what(db: Database, settings: Settings, action: str) -> None:
    """Each person of the row, one after the other in the page's order, on the same world."""
    drive = DRIVERS[action]
    found = await world(db, settings, round_open=action in ROUND_OPEN)
    wrong = []
    for role, expected in MATRIX.cells[action].items():
        if role == DOOR:
            continue
        who = PEOPLE[role]
        before = await snapshot(db)
        got = outcome_of(await drive(found, who.email, False), who, named=NAMED.get(action))
        if got != expected:
            wrong.append(f"{role}: {got}, the page says {expected}")
            continue
        if expected not in CHANGES:
            assert await snapshot(db) == before, f"{action} by {role} changed something"
        if expected in HIDDEN:
            real = [seen(view) for view in await drive(found, who.email, False)]
            made_up = [seen(view) for view in await drive(found, who.email, True)]
            rename = as_real_above if action == "trends of the team above" else as_real
            renamed = [rename(text) for text in made_up]
            assert real == renamed, f"{action} by {role} reveals what exists: {real} / {made_up}"
    assert not wrong, "\n".join(wrong)


def test_every_test_the_page_names_exists() -> None:
    """The threat model names its proofs as ``tests/file.py::test``: each must be a test there."""
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC.read_text(encoding="utf-8"))
    assert len(named) > 30
    root = DOC.parents[1]
    missing = [
        f"{path}::{test}"
        for path, test in named
        if not re.search(
            rf"^(async )?def {test}\(", (root / path).read_text(encoding="utf-8"), re.MULTILINE
        )
    ]
    assert not missing
