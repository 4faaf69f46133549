"""``teampulse serve`` with ``TEAMPULSE_LOG_FORMAT=json`` and a metrics token, as an operator runs
it: a pulse round delivered to Slack (faked), answered with comments through signed requests, a
kudos given, ``/metrics`` scraped with and without the token; then the log the server wrote (its
standard error, at DEBUG) is read line by line."""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from surveys.organisation import spec_from_yaml
from tests.fake_slack import FakeSlack
from tests.slack_support import ORG, comment, scores, uid, view_submission
from tests.support import email, serve
from tests.test_workers import Server, free_port, server_env, serving, signed

WARD_A = [f"a{i}" for i in range(12)]
ANSWERING = WARD_A[:6]
METRICS_TOKEN = "metrics-token-for-tests-0123456789"
OUR_ID = "lb-7f3a9c21-request"
KUDOS_WORDS = "covered my night shift without being asked"


def comment_of(person: str) -> str:
    return f"rota gaps on nights again, said {person[-1]}th voice"


def people_marks() -> list[str]:
    """What names a person in a log: their Slack user id, their email (as typed and URL-encoded),
    the local part of it."""
    marks = []
    for person in [*WARD_A, "manager.a"]:
        marks += [uid(person), email(person), email(person).replace("@", "%40"), f"{person}@"]
    return marks


def answer_marks() -> list[str]:
    """What gives an answer away: a comment's words, the kudos words, a score as Slack sends it."""
    return [
        *(comment_of(person) for person in ANSWERING),
        "rota gaps",
        KUDOS_WORDS,
        "selected_option",
        '"score"',
    ]


async def answer(http: aiohttp.ClientSession, server: Server, person: str, card: Any) -> None:
    questions = [q.id for q in card.questions]
    modal = {
        "callback_id": "pulse_submit",
        "private_metadata": json.dumps({"round": card.round_id, "questions": questions}),
    }
    values = {**scores([f"q:{qid}" for qid in questions], 4), **comment(comment_of(person))}
    body = urlencode({"payload": json.dumps(view_submission(uid(person), modal, values))})
    headers = {**signed(body), "X-Request-Id": OUR_ID} if person == ANSWERING[0] else signed(body)
    async with http.post(server.url + "/slack/events", data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["X-Request-Id"] == (
            OUR_ID if person == ANSWERING[0] else response.headers["X-Request-Id"]
        )


async def give_kudos(http: aiohttp.ClientSession, server: Server, fake: FakeSlack) -> None:
    body = urlencode(
        {
            "team_id": "T0TEST",
            "channel_id": "CWARDA",
            "user_id": uid("a0"),
            "command": "/kudos",
            "text": f"<@{uid('a1')}|a1> {KUDOS_WORDS} #teamwork",
            "api_app_id": "A0TEST",
            "response_url": fake.response_url("kudos"),
            "trigger_id": "1.2.3",
        }
    )
    async with http.post(server.url + "/slack/events", data=body, headers=signed(body)) as sent:
        assert sent.status == 200
    await fake.wait_for("chat.postMessage", lambda c: KUDOS_WORDS in json.dumps(c.params))


async def settled_metrics(http: aiohttp.ClientSession, url: str, sent: int) -> tuple[int, str]:
    """The metrics once the outbox's outcomes are in: a delivery is counted when its outcome
    commits, which may follow the post the fake Slack saw (checked again, never waited out)."""
    line = f'teampulse_outbox_deliveries_total{{outcome="sent"}} {sent}.0'
    async with asyncio.timeout(30):
        while True:
            status, metrics = await scrape(http, url, METRICS_TOKEN)
            if status != 200 or line in metrics:
                return status, metrics
            await asyncio.sleep(0.05)


async def scrape(http: aiohttp.ClientSession, url: str, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url + "/metrics", headers=headers) as response:
        return response.status, await response.text()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    for person in WARD_A:
        slack.add_user(uid(person), email(person))
    yield slack
    await slack.stop()


async def test_json_logs_carry_request_ids_and_never_a_person_beside_an_answer(
    settings: Settings, fake: FakeSlack
) -> None:
    db = Database(settings.database_url)
    service = TeamPulse(db, settings)
    await service.import_organisation(spec_from_yaml(ORG))
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a0"))
    env = {
        **server_env(settings, fake, free_port(), workers=1),
        "TEAMPULSE_LOG_FORMAT": "json",
        "TEAMPULSE_METRICS_TOKEN": METRICS_TOKEN,
    }
    async with serving(env, verbose=True) as server, aiohttp.ClientSession() as http:
        # the server's sender delivers the round to everyone in Ward A
        await fake.wait_until(lambda: len(fake.called("chat.postMessage")) >= len(WARD_A))
        for person in ANSWERING:
            await answer(http, server, person, card)
        await give_kudos(http, server, fake)
        refused = await scrape(http, server.url, None)
        wrong = await scrape(http, server.url, "not-the-token")
        status, metrics = await settled_metrics(http, server.url, len(WARD_A))
    await db.dispose()

    assert refused[0] == 401 and wrong[0] == 401 and "teampulse_" not in refused[1] + wrong[1]
    assert status == 200
    assert "teampulse_pulse_submissions_total 6.0" in metrics
    assert "teampulse_kudos_total 1.0" in metrics
    assert f'teampulse_outbox_deliveries_total{{outcome="sent"}} {len(WARD_A)}.0' in metrics
    assert "teampulse_open_rounds 1.0" in metrics
    assert "_created" not in metrics  # no series says when its first event came
    assert 'route="/metrics",status="401"} 2.0' in metrics

    log = Path("serve.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all(isinstance(line, dict) and line.get("message") is not None for line in lines)
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    posts = [line for line in access if line["path"] == "/slack/events"]
    assert len(posts) == len(ANSWERING) + 1 and all(line["request_id"] for line in access)
    assert len({line["request_id"] for line in access}) == len(access)  # one id per request
    assert [line["status"] for line in posts] == [200] * len(posts)
    assert OUR_ID in {line["request_id"] for line in posts}  # a sane X-Request-Id is kept
    recorded = [line for line in lines if line["message"] == "pulse answer recorded"]
    assert len(recorded) == len(ANSWERING) and all(line["request_id"] for line in recorded)
    assert {line["request_id"] for line in recorded} <= {line["request_id"] for line in posts}

    # no line, nor the lines of one request taken together, names a person beside an answer
    by_request: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        by_request[str(line.get("request_id"))].append(json.dumps(line, ensure_ascii=False))
    for text in [json.dumps(line, ensure_ascii=False) for line in lines] + [
        "\n".join(group) for key, group in by_request.items() if key != "None"
    ]:
        people = [mark for mark in people_marks() if mark in text]
        answers = [mark for mark in answer_marks() if mark in text]
        assert not (people and answers), (people, answers, text)


async def test_a_request_id_that_is_not_an_id_is_replaced(settings: Settings) -> None:
    running = await serve(settings)
    try:
        async with aiohttp.ClientSession() as http:
            offered = {
                OUR_ID: OUR_ID,
                email("a0"): None,  # an email is never taken as an id (nor logged as one)
                "short": None,
                "x" * 65: None,
                "line\tbreak-0123": None,
            }
            for given, kept in offered.items():
                headers = {"X-Request-Id": given}
                async with http.get(running.url + "/healthz", headers=headers) as response:
                    assert response.status == 200
                    answered = response.headers["X-Request-Id"]
                if kept is not None:
                    assert answered == kept
                else:  # a new random id instead
                    assert re.fullmatch(r"[0-9a-f]{32}", answered), answered
            async with http.get(running.url + "/no-such-page") as missing:
                assert missing.status == 404 and missing.headers["X-Request-Id"]
    finally:
        await running.runner.cleanup()
