"""Attacks on the conversation's entries through Slack's real signed requests: a pulse form with
an odd round, odd fields or an older shape, and kudos words with control characters, each get a
clear answer (never a 5xx, never silence) and store nothing they shouldn't."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import delete

from bot.conversation import Conversation
from bot.server import SERVICE
from bot.settings import Settings
from bot.views import TextReply
from storage.engine import Database
from storage.models import PlatformIdentity
from tests.slack_support import (
    Slack,
    all_responses,
    comment,
    form_submission,
    home_click,
    question_blocks,
    scores,
    texts,
    uid,
    view_submission,
)
from tests.support import email, import_org, make_service, serve
from tests.test_slack_pulse_writes import tables


def picked(questions: list[str]) -> dict[str, Any]:
    return {f"q:{q}": {"score": {"selected_option": {"value": "4"}}} for q in questions}


async def _questions(slack: Slack, person: str) -> tuple[int, list[str]]:
    service = slack.service
    await service.open_round(await service.team_named("Ward B"))
    [card] = await service.pending_pulses(email(person))
    return card.round_id, [q.id for q in card.questions]


async def test_a_form_whose_round_is_beyond_any_id_is_out_of_date_not_a_500(slack: Slack) -> None:
    _, questions = await _questions(slack, "b3")
    for round_id in (2**31, 10**20, -(2**63), 0, True):
        metadata = json.dumps({"round": round_id, "questions": questions})
        response = await slack.interaction(form_submission("b3", metadata, picked(questions)))
        assert response.status == 200, round_id
        reply = await response.json()
        assert reply["response_action"] == "update" and "out of date" in texts(reply["view"])
    assert await all_responses(slack.service) == []


async def test_a_form_with_odd_fields_is_refused_on_the_form_not_a_500(slack: Slack) -> None:
    round_id, questions = await _questions(slack, "b3")
    metadata = json.dumps({"round": round_id, "questions": questions})
    first = f"q:{questions[0]}"
    odd: list[dict[str, Any]] = [
        {first: {"score": "4"}},
        {first: {"score": {"selected_option": "4"}}},
        {first: []},
        {"comment": {"text": "a comment"}},
        {"comment_about": {"about": "q:" + questions[0]}},
    ]
    for values in odd:
        response = await slack.interaction(form_submission("b3", metadata, values))
        assert response.status == 200, values
        assert (await response.json())["response_action"] == "errors", values
    for state in (["values"], "values", {"values": ["x"]}):
        payload = form_submission("b3", metadata, {})
        payload["view"]["state"] = state
        response = await slack.interaction(payload)
        assert response.status == 200, state
        assert (await response.json())["response_action"] == "errors", state
    assert await all_responses(slack.service) == []


async def test_a_kudos_form_with_an_odd_state_is_refused_on_the_form_not_a_500(
    slack: Slack,
) -> None:
    for state in (["values"], {"values": ["x"]}, {"values": {"kudos_to": "x"}}):
        payload = {
            "type": "view_submission",
            "user": {"id": uid("a0")},
            "team": {"id": "T0TEST"},
            "view": {"id": "V0010", "type": "modal", "callback_id": "give_kudos_submit"}
            | {"state": state},
        }
        response = await slack.interaction(payload)
        assert response.status == 200, state
        assert (await response.json())["response_action"] == "errors", state
    assert slack.fake.called("chat.postMessage") == []


async def test_a_form_opened_from_the_home_tab_before_the_upgrade_still_submits(
    slack: Slack,
) -> None:
    # forms opened before the upgrade said "from the Home tab" with the number 1
    round_id, questions = await _questions(slack, "b2")
    old = json.dumps({"r": round_id, "q": questions, "h": 1})
    response = await slack.interaction(form_submission("b2", old, picked(questions)))
    assert response.status == 200 and await response.text() == ""
    assert len(await all_responses(slack.service)) == len(questions)
    [home] = await slack.fake.wait_for("views.publish")
    assert home.params["user_id"] == uid("b2")


async def test_a_form_without_a_place_for_its_receipt_still_submits(slack: Slack) -> None:
    round_id, questions = await _questions(slack, "b4")
    old = json.dumps({"r": round_id, "q": questions, "u": None})
    response = await slack.interaction(form_submission("b4", old, picked(questions)))
    assert response.status == 200 and await response.text() == ""
    assert len(await all_responses(slack.service)) == len(questions)


async def test_kudos_words_with_a_nul_are_given_without_it_not_lost(slack: Slack) -> None:
    # PostgreSQL refuses NUL in text: the form was accepted, then the kudos failed unseen
    payload = {
        "type": "view_submission",
        "user": {"id": uid("a0")},
        "team": {"id": "T0TEST"},
        "view": {
            "id": "V0010",
            "type": "modal",
            "callback_id": "give_kudos_submit",
            "state": {
                "values": {
                    "kudos_to": {"users": {"selected_users": [uid("a1")]}},
                    "kudos_message": {"text": {"value": "thanks\x00 for the\x07 cover"}},
                    "kudos_value": {"value": {"selected_option": {"value": "teamwork"}}},
                }
            },
        },
    }
    response = await slack.interaction(payload)
    assert response.status == 200 and await response.text() == ""
    giver = f"D{uid('a0')}"
    [told] = await slack.fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == giver)
    assert "thanks for the cover" in texts(told.params)
    assert "\x00" not in texts(told.params)


async def test_a_report_or_card_asked_for_by_a_mention_in_a_channel_goes_to_the_dm(
    slack: Slack,
) -> None:
    service = slack.service
    await service.open_round(await service.team_named("Ward A"))
    for n, (person, words) in enumerate((("manager.a", "pulse trends"), ("a5", "pulse"))):
        mention = {
            "type": "app_mention",
            "channel": "CWARDA",
            "user": uid(person),
            "text": f"<@UBOT> {words}",
            "ts": f"1700000200.00010{n}",
        }
        assert (await slack.event(mention, f"Ev0AUDIENCE{n}")).status == 200
        who = uid(person)
        dm = f"D{who}"
        await slack.fake.wait_for("chat.postMessage", lambda c, dm=dm: c.params["channel"] == dm)
        [told] = await slack.fake.wait_for(
            "chat.postEphemeral", lambda c, who=who: c.params["user"] == who
        )
        assert "direct messages" in texts(told.params)
    # nothing reached the channel but the two words to each asker alone
    assert [c.params["channel"] for c in slack.fake.called("chat.postMessage")] == [
        f"D{uid('manager.a')}",
        f"D{uid('a5')}",
    ]
    assert slack.fake.called("files.completeUploadExternal", channel_id="CWARDA") == []


async def test_a_mention_with_an_underscore_thanks_no_one_it_only_resembles(
    db: Database, settings: Settings
) -> None:
    # "_" is a LIKE wildcard: "@manager_a" matched manager.a, who was then sent the kudos
    service, messenger = await make_service(db, settings)
    chat = Conversation(service)
    for handle in ("manager_a", "directo_"):
        reply = await chat.handle(email("a0"), f"kudos @{handle} thanks for the cover #teamwork")
        assert [v.text for v in reply if isinstance(v, TextReply)] == [
            f"I couldn't find @{handle}. Mention colleagues by their work email "
            "or the part before the @."
        ]
    assert messenger.direct == [] and messenger.channel == []


async def test_the_web_chat_answers_an_odd_round_or_score_without_a_500(
    db: Database, settings: Settings
) -> None:
    await import_org(db)
    running = await serve(settings.model_copy(update={"local_chat": "on"}))
    service = running.app[SERVICE]
    await service.open_round(await service.team_named("Ward B"))
    [card] = await service.pending_pulses(email("b0"))
    answers = {q.id: 4 for q in card.questions}
    async with aiohttp.ClientSession() as http:
        page = await (await http.get(running.url + "/")).text()
        token = page.split('name="teampulse-token" content="', 1)[1].split('"', 1)[0]
        odd: list[dict[str, Any]] = [
            {"round_id": 2**31, "answers": answers},
            {"round_id": -(10**20), "answers": answers},
            {"round_id": True, "answers": answers},
            {"round_id": card.round_id, "answers": {q: True for q in answers}},
        ]
        for body in odd:
            response = await http.post(
                running.url + "/local/api/pulse",
                json={"as": email("b0"), "comments": {}, **body},
                headers={"X-Teampulse-Token": token},
            )
            assert response.status in {200, 400}, body
            if response.status == 200:
                [reply] = (await response.json())["replies"]
                assert reply["type"] == "text" and reply["kind"] in {"error", "info"}, body
    await running.runner.cleanup()
    assert await service.pending_pulses(email("b0")) != []


async def test_a_pulse_answer_badly_signed_or_replayed_gets_401_and_stores_nothing(
    slack: Slack,
) -> None:
    # the pulse form's answers skip Bolt's dispatch (the fast path): the gate's check is the one
    round_id, questions = await _questions(slack, "b5")
    metadata = json.dumps({"round": round_id, "questions": questions})
    body = urlencode({"payload": json.dumps(form_submission("b5", metadata, picked(questions)))})
    form = "application/x-www-form-urlencoded"
    for signing in (
        {"secret": "not-the-secret"},
        {"timestamp": int(time.time()) - 360},
        {"timestamp": int(time.time()) + 360},
    ):
        assert (await slack.post(body, form, **signing)).status == 401, signing
    unsigned = await slack.http.post(
        slack.url + "/slack/events", data=body, headers={"Content-Type": form}
    )
    assert unsigned.status == 401
    assert await all_responses(slack.service) == []
    assert await slack.service.pending_pulses(email("b5")) != []


async def test_kudos_from_someone_outside_the_organisation_tells_them_why(slack: Slack) -> None:
    # the form was acked, then the "I don't know you" reply had no DM to go to: silence
    slack.fake.add_user("USTRANGER", "stranger@elsewhere.example")
    payload = {
        "type": "view_submission",
        "user": {"id": "USTRANGER"},
        "team": {"id": "T0TEST"},
        "view": {
            "id": "V0011",
            "type": "modal",
            "callback_id": "give_kudos_submit",
            "state": {
                "values": {
                    "kudos_to": {"users": {"selected_users": [uid("a1")]}},
                    "kudos_message": {"text": {"value": "thanks for the cover"}},
                    "kudos_value": {"value": {"selected_option": {"value": "teamwork"}}},
                }
            },
        },
    }
    response = await slack.interaction(payload)
    assert response.status == 200
    reply = await response.json()
    assert reply["response_action"] == "update" and "don't know you" in texts(reply["view"])
    assert slack.fake.called("chat.postMessage") == []


async def test_a_web_chat_email_with_a_nul_is_an_answer_not_a_500(
    db: Database, settings: Settings
) -> None:
    # PostgreSQL refuses NUL in a query's text: the person's lookup failed with a 500
    await import_org(db)
    running = await serve(settings.model_copy(update={"local_chat": "on"}))
    async with aiohttp.ClientSession() as http:
        page = await (await http.get(running.url + "/")).text()
        token = page.split('name="teampulse-token" content="', 1)[1].split('"', 1)[0]
        response = await http.post(
            running.url + "/local/api/message",
            json={"as": "nobody\x00@elsewhere.example", "text": "pulse status"},
            headers={"X-Teampulse-Token": token},
        )
        assert response.status == 200
        [reply] = (await response.json())["replies"]
        assert reply["kind"] == "error" and "don't know you" in reply["text"]
    await running.runner.cleanup()


async def test_a_general_comment_from_the_home_tab_names_no_one_and_the_tab_is_shown_again(
    slack: Slack,
) -> None:
    # the Home tab's path: opened there, a general comment, the tab published again after
    service = slack.service
    await service.open_round(await service.team_named("Ward B"))
    await service.deliver_outbox()
    [card] = await service.pending_pulses(email("b1"))
    async with service.db.session() as session:
        await session.exec(
            delete(PlatformIdentity).where(PlatformIdentity.external_id == uid("b1"))
        )  # type: ignore[call-overload]
        await session.commit()
    fresh = await serve(service.settings)
    server = Slack(fresh.url, slack.fake, fresh.app[SERVICE], slack.http)
    before = await tables(slack)

    action = {"action_id": "pulse_open", "block_id": "pulse", "value": str(card.round_id)}
    assert (await server.interaction(home_click(uid("b1"), action))).ok
    [opened] = await slack.fake.wait_for("views.open")
    modal = opened.params["view"]
    about = {"about": {"choice": {"selected_option": {"value": "general"}}}}
    values = scores(question_blocks(modal), 3) | comment("Rota is fairer now") | about
    reply = await server.interaction(view_submission(uid("b1"), modal, values))
    assert reply.status == 200 and await reply.text() == ""
    [home] = await slack.fake.wait_for("views.publish")
    assert home.params["user_id"] == uid("b1")
    after = await tables(slack)
    await fresh.runner.cleanup()

    changed = {name for name in before if before[name] != after[name]}
    assert changed <= {"response", "participation", "general_comment"}, changed
    assert [row[2] for row in after["general_comment"]] == ["Rota is fairer now"]
    assert not any(row for row in after["response"] if "Rota" in str(row))
    assert email("b1") not in str({name: after[name] for name in changed})
