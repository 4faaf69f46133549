"""The conversation's entries as a Slack user reaches them, over signed requests: a pulse card
asked for in a channel arrives in private, a form's problems come back on its own fields, and a
pulse form opened before an upgrade (its metadata under the old one-letter keys) still submits."""

from __future__ import annotations

import json
from typing import Any

from tests.slack_support import Slack, all_responses, form_submission, texts, uid
from tests.support import email


def picked(questions: list[str], comment: str = "") -> dict[str, Any]:
    values: dict[str, Any] = {
        f"q:{question}": {"score": {"selected_option": {"value": "4"}}} for question in questions
    }
    if comment:
        values["comment"] = {"text": {"type": "plain_text_input", "value": comment}}
    return values


async def test_a_pulse_asked_for_in_a_channel_arrives_in_the_dm(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    await service.open_round(await service.team_named("Ward A"))
    assert (await slack.command("/pulse", "", uid("a1"))).status == 200
    dm = f"D{uid('a1')}"
    [card] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == dm)
    assert "Answer the pulse" in texts(card.params["blocks"])
    [told] = await fake.wait_for("response_url")
    assert told.params["response_type"] == "ephemeral"
    assert "direct messages" in texts(told.params) and "Answer the pulse" not in texts(told.params)


async def test_a_form_opened_before_the_upgrade_still_submits(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    await service.open_round(await service.team_named("Ward B"))
    await service.deliver_outbox()
    channel = f"D{uid('b2')}"
    [dm] = fake.called("chat.postMessage", channel=channel)
    [card] = await service.pending_pulses(email("b2"))
    questions = [q.id for q in card.questions]
    old = json.dumps({"r": card.round_id, "q": questions, "c": channel, "t": dm.answer["ts"]})

    partial = await slack.interaction(form_submission("b2", old, picked(questions[:1])))
    refused = await partial.json()
    assert refused["response_action"] == "errors"
    assert set(refused["errors"]) == {f"q:{q}" for q in questions[1:]}

    accepted = await slack.interaction(
        form_submission("b2", old, picked(questions, "Short staffed"))
    )
    assert accepted.status == 200 and await accepted.text() == ""
    rows = await all_responses(service)
    assert sorted(r.question_id for r in rows) == sorted(questions)
    # a comment not tied to a statement is filed under the first one, as before
    assert [(r.question_id, r.comment) for r in rows if r.comment] == [
        (questions[0], "Short staffed")
    ]
    [update] = await fake.wait_for("chat.update")
    assert update.params["channel"] == channel and update.params["ts"] == dm.answer["ts"]


async def test_pulse_form_problems_come_back_on_the_form(slack: Slack) -> None:
    service = slack.service
    await service.open_round(await service.team_named("Ward B"))
    [card] = await service.pending_pulses(email("b3"))
    questions = [q.id for q in card.questions]
    metadata = json.dumps({"round": card.round_id, "questions": questions})

    too_long = await slack.interaction(
        form_submission("b3", metadata, picked(questions, "x" * 1001))
    )
    reply = await too_long.json()
    assert reply["response_action"] == "errors" and set(reply["errors"]) == {"comment"}
    assert "1000 characters" in reply["errors"]["comment"]

    stale = await slack.interaction(form_submission("b3", "{not json", picked(questions)))
    reply = await stale.json()
    assert reply["response_action"] == "update" and "out of date" in texts(reply["view"])
    assert await all_responses(service) == []


async def test_kudos_form_problems_are_marked_on_each_field(slack: Slack) -> None:
    def kudos(values: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "view_submission",
            "user": {"id": uid("a0")},
            "team": {"id": "T0TEST"},
            "view": {"id": "V0010", "type": "modal", "callback_id": "give_kudos_submit"}
            | {"state": {"values": values}},
        }

    empty = await (await slack.interaction(kudos({}))).json()
    assert set(empty["errors"]) == {"kudos_to", "kudos_message", "kudos_value"}
    long = {
        "kudos_to": {"users": {"selected_users": [uid("a1")]}},
        "kudos_message": {"text": {"value": "thanks " * 100}},
        "kudos_value": {"value": {"selected_option": {"value": "nonsense"}}},
    }
    refused = await (await slack.interaction(kudos(long))).json()
    assert set(refused["errors"]) == {"kudos_message", "kudos_value"}
    assert "500 characters" in refused["errors"]["kudos_message"]
    assert "isn't one of our values" in refused["errors"]["kudos_value"]
    assert slack.fake.called("chat.postMessage") == []


async def test_kudos_words_cannot_ping_a_channel_or_disguise_a_link(slack: Slack) -> None:
    # what Slack sends when someone types these characters (it escapes & < >)
    typed = "&lt;!channel&gt; see &lt;https://evil.example|the rota&gt; #teamwork"
    await slack.command("/kudos", f"<@{uid('a1')}|a1> {typed}", uid("a0"))
    [posted] = await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == "CWARDA"
    )
    blocks = posted.params["blocks"]
    [message] = [b["text"] for b in blocks if b.get("text", {}).get("type") == "plain_text"]
    # the message as typed, in a plain_text object (which Slack never parses)
    assert message["text"] == "<!channel> see <https://evil.example|the rota>"
    assert "<" not in texts(blocks).replace(message["text"], "") + posted.params["text"]
    assert "&lt;!channel&gt;" in posted.params["text"]
