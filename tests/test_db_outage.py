"""The database goes away and comes back, on real PostgreSQL behind a proxy the test controls
(``tests/db_proxy.py``: the shared server itself is never stopped).  While it is away, the real
server stays up, ``/readyz`` says not ready within its bound, and anyone who submits (the web
chat, a Slack modal or command, a Teams card) is told "couldn't save, please try again": never a
receipt, never a 5xx with a stack trace.  Once it is back, the same submission is saved, the
scheduler's leader is elected again and the outbox's sender delivers what was queued meanwhile."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlmodel import func, select

from adapters.slack.blocks import COMMENT_BLOCK
from adapters.teams.card_actions import MESSAGE_TYPE
from bot.health import READY_TIMEOUT
from bot.outage import PERSON_WAIT
from bot.scheduler import PulseScheduler
from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from bot.words import KUDOS_NOT_SAVED, NOT_SAVED, NOT_SAVED_AFTER_ALL, STILL_SAVING, UNAVAILABLE
from storage.engine import Database
from storage.leader import Election
from storage.models import Participation, Recognition, Response
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
from tests.support import FixedClock, RecordingMessenger, Running, email, import_org, serve
from tests.teams_support import Teams, member
from tests.test_server import token_of
from tests.test_teams_chat import CARD, execute, open_pulse, submit_action, walk

POSTGRESQL = [backend for backend in BACKENDS if backend == "postgresql"]
pytestmark = pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
SLACK_LIMIT = 3.0  # seconds Slack waits for a form's answer
LATE = NOT_SAVED_AFTER_ALL


@pytest.fixture
def settings(settings: Settings, proxy: DatabaseProxy) -> Settings:
    """The test settings, with the app's database reached through the proxy."""
    return through(proxy, settings)


async def until(check: Any, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.02)  # re-checking a condition, not timing a result


async def count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


def quiet_about(caplog: pytest.LogCaptureFixture, *people: str) -> None:
    """The operator was told in plain lines: no traceback, and no person named."""
    said = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert any("database unavailable" in record.getMessage() for record in said)
    for record in said:
        assert record.exc_info is None, record.getMessage()
        assert not any(person in record.getMessage() for person in people)


# -- the web chat -------------------------------------------------------------------------------
class WebChat:
    def __init__(self, running: Running, http: aiohttp.ClientSession, token: str) -> None:
        self.url, self.http, self.token = running.url, http, token
        self.service: TeamPulse = running.app[SERVICE]

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        headers = {"X-Teampulse-Token": self.token}
        async with self.http.post(self.url + path, json=body, headers=headers) as response:
            return response.status, await response.json()

    async def get(self, path: str, **query: str) -> tuple[int, Any]:
        headers = {"X-Teampulse-Token": self.token}
        async with self.http.get(self.url + path, params=query, headers=headers) as response:
            return response.status, await response.json()

    async def card(self, person: str) -> dict[str, Any]:
        _, inbox = await self.get("/local/api/inbox", **{"as": email(person)})
        [card] = [reply for reply in inbox["replies"] if reply["type"] == "pulse"]
        return dict(card)

    async def submit(self, person: str, card: dict[str, Any]) -> dict[str, Any]:
        answers = {question["id"]: 4 for question in card["questions"]}
        body = {"as": email(person), "round_id": card["round_id"], "answers": answers}
        status, found = await self.post("/local/api/pulse", body)
        assert status == 200, found
        [reply] = found["replies"]
        return dict(reply)


@pytest.fixture
async def chat(settings: Settings) -> AsyncIterator[WebChat]:
    """The real server in local mode (the web chat) over the proxied database, with Ward A's
    pulse open and delivered."""
    db = Database(settings.database_url)
    await import_org(db)  # (an organisation of our own: no demo loaded)
    await db.dispose()
    running = await serve(settings.model_copy(update={"local_chat": "on"}))
    service: TeamPulse = running.app[SERVICE]
    await service.open_round(await service.team_named("Ward A"))
    await service.deliver_outbox()
    async with aiohttp.ClientSession() as http:
        yield WebChat(running, http, await token_of(http, running.url))
    await running.runner.cleanup()


async def probe(chat: WebChat, path: str = "/readyz") -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    async with chat.http.get(chat.url + path) as response:
        return response.status, await response.json(), time.monotonic() - started


async def test_the_web_chat_while_the_database_is_down_saves_nothing_and_says_so_then_saves(
    chat: WebChat, proxy: DatabaseProxy, caplog: pytest.LogCaptureFixture
) -> None:
    card = await chat.card("a1")
    kudos = {"as": email("a2"), "text": f"kudos @{email('a3')} thanks for the cover #teamwork"}
    await proxy.down()

    assert await chat.submit("a1", card) == {"type": "text", "text": NOT_SAVED, "kind": "error"}
    status, said = await chat.post("/local/api/message", kudos)
    assert (status, said["replies"][0]["text"]) == (200, KUDOS_NOT_SAVED)
    status, inbox = await chat.get("/local/api/inbox", **{"as": email("a1")})
    assert (status, inbox) == (503, {"error": UNAVAILABLE})  # a reason, not a stack trace
    ready, checks, _ = await probe(chat)
    assert ready == 503 and checks["checks"]["database"].startswith("unreachable (")
    assert (await probe(chat, "/healthz"))[0] == 200  # alive: a restart would not help
    quiet_about(caplog, email("a1"), email("a2"), email("a3"))

    await proxy.up()
    status, checks, _ = await probe(chat)
    assert (status, checks["status"]) == (200, "ready")
    assert (await chat.submit("a1", card))["type"] == "receipt"
    assert await count(chat.service.db, Response) == len(card["questions"])
    status, said = await chat.post("/local/api/message", kudos)
    assert KUDOS_NOT_SAVED not in str(said["replies"])
    assert await count(chat.service.db, Recognition) == 1


async def test_a_database_that_stops_answering_is_given_up_on_within_the_bounds(
    chat: WebChat, proxy: DatabaseProxy
) -> None:
    """A partition: connections are taken and never answered.  A person is told within
    ``PERSON_WAIT`` (under Slack's limit), a probe within ``READY_TIMEOUT``.  The card whose
    batch is stuck may yet commit: "still saving", then "couldn't save after all" once its
    connection is cut.  A card given up on while it queued behind it is never saved behind its
    person's back: once the database is back each of them tries again and gets a receipt, and
    each card is stored once."""
    cards = {person: await chat.card(person) for person in ("a1", "a2")}
    await proxy.silent()

    said = {}
    for person in ("a1", "a2"):  # a1's batch hangs on the database; a2's card queues behind it
        started = time.monotonic()
        said[person] = await chat.submit(person, cards[person])
        assert time.monotonic() - started < SLACK_LIMIT
    assert (said["a1"]["text"], said["a2"]["text"]) == (STILL_SAVING, NOT_SAVED)
    ready, checks, took = await probe(chat)
    assert ready == 503 and checks["checks"]["database"] == f"no answer within {READY_TIMEOUT:g} s"
    assert took < READY_TIMEOUT + 1.5

    await proxy.up()
    await until(lambda: _ready(chat))
    await until(lambda: _told(chat, "a1", NOT_SAVED_AFTER_ALL))
    for person in ("a1", "a2"):
        assert (await chat.submit(person, cards[person]))["type"] == "receipt"
    assert await count(chat.service.db, Response) == 2 * len(cards["a1"]["questions"])


async def _ready(chat: WebChat) -> bool:
    return (await probe(chat))[0] == 200


async def _told(chat: WebChat, person: str, text: str) -> bool:
    _, inbox = await chat.get("/local/api/inbox", **{"as": email(person)})
    return any(reply.get("text") == text for reply in inbox["replies"])


async def test_answers_cut_off_mid_flight_are_never_acknowledged_unsaved_and_all_get_in(
    chat: WebChat, proxy: DatabaseProxy
) -> None:
    """Twelve people submit together and the database goes down among them: every receipt
    given is backed by saved answers, and everyone told to try again gets in afterwards."""
    people = [f"a{i}" for i in range(12)]
    cards = {person: await chat.card(person) for person in people}
    asked = len(cards["a0"]["questions"])
    submitting = [asyncio.ensure_future(chat.submit(p, cards[p])) for p in people]
    await proxy.down()
    first = dict(zip(people, await asyncio.gather(*submitting), strict=True))
    receipts = [p for p, reply in first.items() if reply["type"] == "receipt"]
    refused = [p for p, reply in first.items() if reply["type"] != "receipt"]
    assert all(first[p] == {"type": "text", "text": NOT_SAVED, "kind": "error"} for p in refused)

    await proxy.up()
    assert await count(chat.service.db, Response) >= len(receipts) * asked
    for person in refused:
        assert (await chat.submit(person, cards[person]))["type"] == "receipt"
    for person in receipts:  # a receipt is never taken back: the second try is "already in"
        assert "already answered" in (await chat.submit(person, cards[person]))["text"]
    assert await count(chat.service.db, Response) >= len(people) * asked


async def test_a_commit_cut_off_in_flight_is_no_receipt_and_its_second_card_is_no_one_more(
    chat: WebChat, proxy: DatabaseProxy
) -> None:
    """The one outcome that can't be known: the ``COMMIT`` reached the database, its answer
    never came back.  The person is told to try again (never a receipt for what may not be
    stored), and their second card can't count as one more person: the round keeps this
    process's reservation on ``unsure`` after it closes."""
    cards = {person: await chat.card(person) for person in ("a0", "a1")}
    asked = len(cards["a0"]["questions"])
    assert (await chat.submit("a0", cards["a0"]))["type"] == "receipt"  # (the round reserved)
    proxy.cut_after_commit()
    assert (await chat.submit("a1", cards["a1"]))["text"] == NOT_SAVED
    assert proxy.commits_cut == 1
    assert await count(chat.service.db, Response) == 2 * asked  # it landed all the same
    assert (await chat.submit("a1", cards["a1"]))["type"] == "receipt"
    assert await count(chat.service.db, Response) == 3 * asked

    await chat.service.close_round(await chat.service.team_named("Ward A"))
    async with chat.service.db.session() as session:
        [participation] = (await session.exec(select(Participation))).all()
    k = chat.service.settings.min_group
    assert participation.unsure == 2 * k  # kept: given back, it would be 0


# -- Slack ---------------------------------------------------------------------------------------
async def slack_modal(slack: Slack, person: str) -> dict[str, Any]:
    """Ward B's pulse sent, and ``person``'s modal opened from its DM button."""
    service, fake = slack.service, slack.fake
    await service.open_round(await service.team_named("Ward B"))
    await service.deliver_outbox()
    channel = f"D{uid(person)}"
    [dm] = fake.called("chat.postMessage", channel=channel)
    [button] = [
        element
        for block in dm.params["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    round_id = int(button["value"])
    await slack.interaction(pulse_click(uid(person), round_id, channel, dm.answer["ts"]))
    [opened] = await fake.wait_for("views.open")
    return dict(opened.params["view"])


async def test_a_slack_modal_submitted_while_the_database_is_down_stays_open_saying_try_again(
    slack: Slack, proxy: DatabaseProxy
) -> None:
    modal = await slack_modal(slack, "b0")
    submission = view_submission(uid("b0"), modal, scores(question_blocks(modal), 4))
    await proxy.down()

    refused = await slack.interaction(submission)
    assert refused.status == 200
    assert await refused.json() == {
        "response_action": "errors",
        "errors": {COMMENT_BLOCK: NOT_SAVED},
    }
    status = await slack.command("/pulse", "status", uid("b1"))
    assert status.status == 200
    [told] = await slack.fake.wait_for("response_url")
    assert told.params["text"] == UNAVAILABLE
    assert slack.fake.called("chat.update") == []  # no receipt in place of the pulse message

    await proxy.up()
    accepted = await slack.interaction(submission)  # the same form, submitted again
    assert accepted.status == 200 and await accepted.text() == ""
    assert await count(slack.service.db, Response) == len(question_blocks(modal))
    await slack.fake.wait_for("chat.update")


async def test_a_slack_modal_answers_within_slacks_limit_when_the_database_stops_answering(
    slack: Slack, proxy: DatabaseProxy
) -> None:
    modal = await slack_modal(slack, "b0")
    await proxy.silent()
    started = time.monotonic()
    answered = await slack.interaction(
        view_submission(uid("b0"), modal, scores(question_blocks(modal), 2))
    )
    assert time.monotonic() - started < SLACK_LIMIT
    assert PERSON_WAIT < SLACK_LIMIT
    said = await answered.json()  # its batch is stuck mid-way: it may yet commit
    assert said["response_action"] == "update" and STILL_SAVING in texts(said["view"])
    await proxy.up()  # its connection cut: not saved after all, and told so in the DM
    told = await slack.fake.wait_for(
        "chat.postMessage", lambda call: call.params.get("text") == LATE
    )
    assert told[0].params["channel"] == f"D{uid('b0')}"


async def test_the_slack_home_tab_opened_while_the_database_is_down_says_so(
    slack: Slack, proxy: DatabaseProxy
) -> None:
    await proxy.down()
    opened = {"type": "app_home_opened", "user": uid("b3"), "channel": "DB3", "tab": "home"}
    assert (await slack.event(opened, "Ev0OUTAGE1")).status == 200
    [published] = await slack.fake.wait_for("views.publish")
    assert published.params["user_id"] == uid("b3")
    assert UNAVAILABLE in texts(published.params["view"])
    await proxy.up()


# -- Teams --------------------------------------------------------------------------------------
async def test_a_teams_card_submitted_while_the_database_is_down_stays_with_a_message(
    teams: Teams, proxy: DatabaseProxy
) -> None:
    a1 = member("a1")
    await teams.say(a1, "pulse help")
    card = await open_pulse(teams, a1)
    choices = [
        e["id"] for e in walk(card) if e.get("type") == "Input.ChoiceSet" and e["id"] != "about"
    ]
    data = {**submit_action(card)["data"], **{choice: "3" for choice in choices}}
    await proxy.down()

    refused = await teams.post(execute(a1, teams.fake.service_url, "pulse.submit", data))
    assert refused.status == 200
    # a message, and no card: the card clicked stays, with every choice on it
    assert await refused.json() == {"statusCode": 200, "type": MESSAGE_TYPE, "value": NOT_SAVED}
    said = await teams.say(a1, "pulse status")
    assert said.status in {200, 201}
    assert UNAVAILABLE in teams.fake.sent_texts(f"a:personal-{a1.aad_object_id}")

    await proxy.up()
    accepted = await teams.post(execute(a1, teams.fake.service_url, "pulse.submit", data))
    assert (await accepted.json())["type"] == CARD
    assert await count(teams.service.db, Response) == len(choices)


# -- scheduled work ------------------------------------------------------------------------------
async def test_scheduled_work_survives_the_outage_and_resumes_after_it(
    settings: Settings, database_url: str, proxy: DatabaseProxy
) -> None:
    """The leader loses its lock with its connection and stands down; its tick during the outage
    fails quietly; a round queued meanwhile by another replica (straight to the database) is
    announced to no one here.  Once the database is back this process leads again and its
    sender, woken by its listener coming back (the poll is an hour), delivers everyone once."""
    db = Database(settings.database_url)
    await import_org(db)
    messenger = RecordingMessenger()
    service = TeamPulse(db, settings, messenger, clock=FixedClock())
    scheduler = PulseScheduler(
        service, poll_seconds=3600, election=Election(db.engine, retry_seconds=0.1)
    )
    await scheduler.start()
    other = Database(database_url)  # another replica, on the database itself
    try:
        await until(lambda: _now(scheduler.leading))
        await proxy.down()
        await until(lambda: _now(not scheduler.leading))
        await scheduler.tick()  # the minute's tick, with no database: no exception escapes
        replica = TeamPulse(other, settings, RecordingMessenger(), clock=FixedClock())
        await replica.open_round(await replica.team_named("Ward A"))
        assert messenger.direct == []

        await proxy.up()
        await until(lambda: _now(scheduler.leading))
        await until(lambda: _now(len(messenger.direct) == 12))
        assert sorted(to for to, _ in messenger.direct) == sorted(email(f"a{i}") for i in range(12))
        await scheduler.tick()
    finally:
        await scheduler.stop()
        await service.close()
        await db.dispose()
        await other.dispose()


async def _now(value: bool) -> bool:
    return value
