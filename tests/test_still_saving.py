"""A person whose wait runs out while their answers are being committed is told the truth: "still
saving", then the outcome (the receipt in the pulse's place, or "couldn't save after all, try
again" with the pulse still there to answer), never a false "couldn't save" for answers that
are kept.  One whose card is still queued when their wait runs out is told "couldn't save", and
nothing of theirs is stored.

On real PostgreSQL behind a proxy the test controls (``tests/db_proxy.py``): it holds every
``COMMIT`` until released (a commit slower than the person's wait, as on a machine short of CPU),
or cuts the connection under a held one (a batch that fails after all).  SQLite has no bound on
the wait (``bot.outage.Waits``), so none of this can happen there.  Each platform is the real
server: the web chat, a Slack modal (against the fake Slack Web API), a Teams card (against the
fake Bot Connector)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.slack.blocks import COMMENT_BLOCK
from adapters.teams.cards import notice_card
from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TextReply
from bot.words import NOT_SAVED, NOT_SAVED_AFTER_ALL, STILL_SAVING
from storage.engine import Database
from storage.models import Response
from tests.conftest import BACKENDS
from tests.db_proxy import DatabaseProxy, through
from tests.slack_support import (
    Slack,
    pulse_click,
    question_blocks,
    scores,
    texts,
    uid,
    view_submission,
)
from tests.support import email, import_org, serve
from tests.teams_support import Teams, member
from tests.teams_support import conversation_of as chat_of
from tests.test_db_outage import WebChat, count, slack_modal, until
from tests.test_server import token_of
from tests.test_teams_chat import CARD, execute, open_pulse, submit_action, walk
from tests.test_teams_chat import texts as card_texts

POSTGRESQL = [backend for backend in BACKENDS if backend == "postgresql"]
pytestmark = pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
WAIT = 1.0  # the person's wait here (TEAMPULSE_PERSON_WAIT): short, and ample for a healthy card


@pytest.fixture
def settings(settings: Settings, proxy: DatabaseProxy) -> Settings:
    """The app's database through the proxy, and a person's wait of ``WAIT``."""
    return through(proxy, settings, person_wait=WAIT)


@pytest.fixture
async def chat(settings: Settings) -> AsyncIterator[WebChat]:
    """The web chat's real server, with Ward A's pulse open and delivered."""
    db = Database(settings.database_url)
    await import_org(db)
    await db.dispose()
    running = await serve(settings.model_copy(update={"local_chat": "on"}))
    service: TeamPulse = running.app[SERVICE]
    await service.open_round(await service.team_named("Ward A"))
    await service.deliver_outbox()
    async with aiohttp.ClientSession() as http:
        yield WebChat(running, http, await token_of(http, running.url))
    await running.runner.cleanup()


async def committing(proxy: DatabaseProxy) -> None:
    """Until a batch's COMMIT is held in the proxy (the card's commit is under way)."""

    async def held() -> bool:
        return proxy.commits_held > 0

    await until(held)


class Inbox:
    """What the web chat pushes to one person (each look takes it, as the page's poll does)."""

    def __init__(self, chat: WebChat, person: str) -> None:
        self.chat, self.person, self.seen = chat, person, list[dict[str, Any]]()

    async def look(self) -> list[dict[str, Any]]:
        _, found = await self.chat.get("/local/api/inbox", **{"as": email(self.person)})
        self.seen += [reply for reply in found["replies"] if reply["type"] != "pulse"]
        return self.seen

    async def until_one(self) -> dict[str, Any]:
        async def arrived() -> bool:
            return bool(await self.look())

        await until(arrived)
        [reply] = self.seen
        return reply


# -- the web chat ------------------------------------------------------------------------------
async def test_the_web_chat_says_still_saving_then_the_receipt_replaces_the_pulse(
    chat: WebChat, proxy: DatabaseProxy, caplog: pytest.LogCaptureFixture
) -> None:
    cards = {person: await chat.card(person) for person in ("a1", "a2")}
    asked = len(cards["a1"]["questions"])
    proxy.hold_commits()
    first = asyncio.ensure_future(chat.submit("a1", cards["a1"]))
    await committing(proxy)
    queued = await chat.submit("a2", cards["a2"])  # behind a1's batch when its wait runs out

    round_id = cards["a1"]["round_id"]
    assert await first == {"type": "saving", "round_id": round_id, "text": STILL_SAVING}
    assert queued == {"type": "text", "text": NOT_SAVED, "kind": "error"}  # true: not done
    a1 = Inbox(chat, "a1")
    assert await a1.look() == []  # nothing before the commit

    proxy.release_commits()
    receipt = await a1.until_one()
    assert (receipt["type"], receipt["round_id"]) == ("receipt", round_id)
    assert await count(chat.service.db, Response) == asked  # a1's alone: a2's was dropped
    assert "already answered" in (await chat.submit("a1", cards["a1"]))["text"]
    assert (await chat.submit("a2", cards["a2"]))["type"] == "receipt"  # a2 tries again
    assert await count(chat.service.db, Response) == 2 * asked
    told_operator(caplog, email("a1"), email("a2"))


def told_operator(caplog: pytest.LogCaptureFixture, *people: str) -> None:
    """One line each, naming the work and no one: the card given up on while queued, and the
    one left to finish."""
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(line.startswith("a pulse submission not done") for line in said), said
    assert any(line.startswith("a pulse submission still running") for line in said), said
    assert not any(person in line for line in said for person in people)


async def test_the_web_chat_says_so_when_answers_still_saving_fail_after_all(
    chat: WebChat, proxy: DatabaseProxy
) -> None:
    card = await chat.card("a1")
    proxy.hold_commits()
    assert (await chat.submit("a1", card))["type"] == "saving"
    await proxy.down()  # the held COMMIT never reaches the database
    await proxy.up()  # (back at once: the inbox reads the pulses waiting too)

    told = await Inbox(chat, "a1").until_one()
    assert told == {
        "type": "text",
        "text": NOT_SAVED_AFTER_ALL,
        "kind": "error",
        "round_id": card["round_id"],
        "retry": True,  # the page keeps the card, to send again
    }
    assert await count(chat.service.db, Response) == 0
    assert await chat.card("a1") == card  # still waiting for them
    assert (await chat.submit("a1", card))["type"] == "receipt"


# -- Slack ---------------------------------------------------------------------------------------
async def test_a_slack_modal_says_still_saving_then_the_receipt_replaces_the_pulse_message(
    slack: Slack, proxy: DatabaseProxy, caplog: pytest.LogCaptureFixture
) -> None:
    modal = await slack_modal(slack, "b0")
    others = [await slack_modal_of(slack, "b1")]
    proxy.hold_commits()
    submitting = asyncio.ensure_future(
        slack.interaction(view_submission(uid("b0"), modal, scores(question_blocks(modal), 4)))
    )
    await committing(proxy)
    queued = await slack.interaction(
        view_submission(uid("b1"), others[0], scores(question_blocks(others[0]), 2))
    )
    assert (await queued.json())["errors"] == {COMMENT_BLOCK: NOT_SAVED}  # the form stays open

    answered = await submitting
    assert answered.status == 200
    found = await answered.json()
    assert found["response_action"] == "update"  # the modal now says so, and can be closed
    assert STILL_SAVING in texts(found["view"]["blocks"])
    assert slack.fake.called("chat.update") == []

    proxy.release_commits()
    [update] = await slack.fake.wait_for("chat.update")
    assert update.params["channel"] == f"D{uid('b0')}"
    assert "pulse: answered" in texts(update.params["blocks"])
    assert await count(slack.service.db, Response) == len(question_blocks(modal))
    told_operator(caplog, uid("b0"), uid("b1"), email("b0"), email("b1"))


async def slack_modal_of(slack: Slack, person: str) -> dict[str, Any]:
    """``person``'s modal, opened from the DM of the round ``slack_modal`` sent."""
    channel = f"D{uid(person)}"
    [dm] = slack.fake.called("chat.postMessage", channel=channel)
    [button] = [e for b in dm.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    await slack.interaction(
        pulse_click(uid(person), int(button["value"]), channel, dm.answer["ts"])
    )
    opened = await slack.fake.wait_for("views.open", count=2)
    return dict(opened[-1].params["view"])


async def test_a_slack_answer_still_saving_that_fails_after_all_is_told_in_the_dm(
    slack: Slack, proxy: DatabaseProxy
) -> None:
    modal = await slack_modal(slack, "b0")
    proxy.hold_commits()
    submitted = view_submission(uid("b0"), modal, scores(question_blocks(modal), 4))
    answered = await slack.interaction(submitted)
    assert STILL_SAVING in texts((await answered.json())["view"]["blocks"])
    await proxy.down()

    channel = f"D{uid('b0')}"
    told = await slack.fake.wait_for(
        "chat.postMessage", lambda call: call.params.get("text") == NOT_SAVED_AFTER_ALL
    )
    assert told[0].params["channel"] == channel  # beside the pulse, whose button still opens it
    assert slack.fake.called("chat.update") == []
    await proxy.up()
    assert await count(slack.service.db, Response) == 0
    again = await slack.interaction(submitted)
    assert again.status == 200 and await again.text() == ""  # saved this time
    await slack.fake.wait_for("chat.update")


# -- Teams --------------------------------------------------------------------------------------
def pulse_message(teams: Teams, card: dict[str, Any], who: Any) -> str:
    """The id of the message that carries ``card`` in ``who``'s chat."""
    [call] = [
        call
        for call in teams.fake.called("send", conversation=chat_of(who))
        if any(a.get("content") == card for a in call.params["activity"].get("attachments") or [])
    ]
    return str(call.answer["id"])


async def test_a_teams_card_says_still_saving_then_becomes_the_receipt(
    teams: Teams, proxy: DatabaseProxy
) -> None:
    a1 = member("a1")
    await teams.say(a1, "pulse help")  # (the account known: the pulse's path writes nothing)
    card = await open_pulse(teams, a1)
    data = {**submit_action(card)["data"], **answers(card, "4")}
    clicked = execute(a1, teams.fake.service_url, "pulse.submit", data)
    clicked["replyToId"] = pulse_message(teams, card, a1)
    proxy.hold_commits()

    answered = await teams.post(clicked)
    assert answered.status == 200
    assert await answered.json() == {
        "statusCode": 200,
        "type": CARD,
        "value": notice_card(TextReply(STILL_SAVING)),  # in place of the card clicked
    }

    proxy.release_commits()
    [update] = await teams.fake.wait_for("update")
    assert update.params["message"] == clicked["replyToId"]
    [replacement] = update.params["activity"]["attachments"]
    assert "answered" in card_texts(replacement["content"])
    assert await count(teams.service.db, Response) == len(answers(card, "4"))


async def test_a_teams_answer_still_saving_that_fails_after_all_gets_its_card_back(
    teams: Teams, proxy: DatabaseProxy
) -> None:
    a1 = member("a1")
    await teams.say(a1, "pulse help")
    card = await open_pulse(teams, a1)
    data = {**submit_action(card)["data"], **answers(card, "2")}
    clicked = execute(a1, teams.fake.service_url, "pulse.submit", data)
    clicked["replyToId"] = pulse_message(teams, card, a1)
    proxy.hold_commits()
    saving = await (await teams.post(clicked)).json()
    assert saving["value"] == notice_card(TextReply(STILL_SAVING))
    await proxy.down()  # the held COMMIT never reaches the database
    await proxy.up()  # (back at once: the pulse card can be looked up again)

    [update] = await teams.fake.wait_for("update")
    [restored] = update.params["activity"]["attachments"]
    assert submit_action(restored["content"])  # the pulse again, to submit
    chosen = [
        e.get("value") for e in walk(restored["content"]) if str(e.get("id")).startswith("q:")
    ]
    assert chosen and all(value == "2" for value in chosen)  # with what was chosen
    await teams.fake.wait_until(
        lambda: any(NOT_SAVED_AFTER_ALL in said for said in teams.fake.sent_texts(chat_of(a1)))
    )
    assert await count(teams.service.db, Response) == 0
    again = await (await teams.post(clicked)).json()
    assert again["type"] == CARD and "answered" in card_texts(again["value"])
    assert await count(teams.service.db, Response) == len(chosen)


def answers(card: dict[str, Any], score: str) -> dict[str, str]:
    return {
        e["id"]: score
        for e in walk(card)
        if e.get("type") == "Input.ChoiceSet" and str(e.get("id")).startswith("q:")
    }
