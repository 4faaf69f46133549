"""The web chat's comment choice, through the real server: ``comments`` keyed by a statement's
id, or by ``""`` for a general comment (the card's default, "General" in its "about" select)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from tests.support import FixedClock, after_the_week, email, import_org, serve


@dataclass
class Chat:
    url: str
    http: aiohttp.ClientSession
    token: str
    service: TeamPulse

    async def post(self, path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
        headers = {"X-Teampulse-Token": self.token}
        response = await self.http.post(self.url + path, json=body, headers=headers)
        await response.read()
        return response

    async def card(self, person: str) -> dict[str, Any]:
        headers = {"X-Teampulse-Token": self.token}
        inbox = await self.http.get(
            f"{self.url}/local/api/inbox?as={email(person)}", headers=headers
        )
        [card] = [r for r in (await inbox.json())["replies"] if r["type"] == "pulse"]
        return card

    async def answer(self, person: str, comments: dict[str, Any]) -> aiohttp.ClientResponse:
        card = await self.card(person)
        answers = {q["id"]: 4 for q in card["questions"]}
        body = {"as": email(person), "round_id": card["round_id"], "answers": answers}
        return await self.post("/local/api/pulse", {**body, "comments": comments})

    async def comments(self, person: str, team: str) -> list[list[str]]:
        reply = await self.post(
            "/local/api/message", {"as": email(person), "text": f"pulse trends {team}"}
        )
        [trends] = (await reply.json())["replies"]
        assert trends["type"] == "trends", trends
        return sorted(trends["comments"])


@pytest.fixture
async def chat(db: Database, settings: Settings) -> AsyncIterator[Chat]:
    await import_org(db)  # the test organisation, so no demo is loaded
    running = await serve(settings.model_copy(update={"local_chat": "on"}))
    service = running.app[SERVICE]
    service.clock = FixedClock()
    async with aiohttp.ClientSession() as http:
        page = await (await http.get(running.url + "/")).text()
        token = page.split('name="teampulse-token" content="', 1)[1].split('"', 1)[0]
        yield Chat(running.url, http, token, service)
    await running.runner.cleanup()


async def test_a_general_comment_shows_under_general_and_a_tied_one_under_its_theme(
    chat: Chat,
) -> None:
    service = chat.service
    assert isinstance(service.clock, FixedClock)
    await service.open_round(await service.team_named("Ward A"))
    theme = (await chat.card("a0"))["questions"][2]["theme"]
    for i in range(10):
        card = await chat.card(f"a{i}")
        said = {"": f"General from a{i}"} if i < 5 else {}
        if i == 5:
            said = {card["questions"][2]["id"]: "On the third statement"}
        reply = await chat.answer(f"a{i}", said)
        assert reply.status == 200
        assert (await reply.json())["replies"][0]["type"] == "receipt"
    await service.close_round(await service.team_named("Ward A"))
    assert await chat.comments("manager.a", "Ward A") == []  # the week is not over

    await after_the_week(service, service.clock)
    assert await chat.comments("manager.a", "Ward A") == sorted(
        [["General", f"General from a{i}"] for i in range(5)] + [[theme, "On the third statement"]]
    )


@pytest.mark.parametrize(
    ("comments", "reason"),
    [
        ({"": 5}, "general comment"),
        ({"": ["a", "list"]}, "general comment"),
        ({"": None}, "general comment"),
        ({"q": 7}, "comments must be text"),
        ({"": "one", "q": "two"}, "a card has one comment"),
    ],
)
async def test_a_bad_general_comment_is_a_400_with_a_reason(
    chat: Chat, comments: dict[str, Any], reason: str
) -> None:
    await chat.service.open_round(await chat.service.team_named("Ward B"))
    refused = await chat.answer("b0", comments)
    assert refused.status == 400 and reason in (await refused.json())["error"]
    assert (await chat.card("b0"))["type"] == "pulse"  # still waiting to be answered


async def test_a_too_long_general_comment_is_refused_and_the_card_stays(chat: Chat) -> None:
    await chat.service.open_round(await chat.service.team_named("Ward B"))
    refused = await chat.answer("b1", {"": "x" * 1001})
    [reply] = (await refused.json())["replies"]
    assert reply["kind"] == "error" and "1000 characters" in reply["text"]
    assert (await chat.card("b1"))["type"] == "pulse"
