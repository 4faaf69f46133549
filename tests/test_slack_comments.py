"""Slack's pulse modal offers what the comment is about ("General", the default, or one
statement), and the choice lands where it was made: real signed requests into the real server,
the Web API faked (``tests/fake_slack.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.slack_support import Slack, all_responses, texts, uid
from tests.support import FixedClock, after_the_week, email


async def open_modal(slack: Slack, person: str, round_id: int) -> dict[str, Any]:
    """``person`` clicks "Answer the pulse" in their DM; returns the modal Slack was asked to
    open."""
    channel = f"D{uid(person)}"
    [dm] = slack.fake.called("chat.postMessage", channel=channel)
    trigger = f"trigger-{person}"
    clicked = await slack.interaction(
        {
            "type": "block_actions",
            "user": {"id": uid(person), "team_id": "T0TEST"},
            "team": {"id": "T0TEST"},
            "container": {"type": "message", "message_ts": dm.answer["ts"], "channel_id": channel},
            "trigger_id": trigger,
            "actions": [{"action_id": "pulse_open", "value": str(round_id), "type": "button"}],
        }
    )
    assert clicked.status == 200
    [opened] = await slack.fake.wait_for("views.open", lambda c: c.params["trigger_id"] == trigger)
    view: dict[str, Any] = opened.params["view"]
    return view


def about_select(modal: dict[str, Any]) -> dict[str, Any]:
    [block] = [b for b in modal["blocks"] if b.get("block_id") == "about"]
    element: dict[str, Any] = block["element"]
    return element


def submission(
    person: str, modal: dict[str, Any], comment: str, about: dict[str, Any] | None
) -> dict[str, Any]:
    """The modal submitted: every statement answered 4, ``comment`` written and ``about`` (an
    option of the select, as Slack sends it back) chosen."""
    values: dict[str, Any] = {
        block["block_id"]: {"score": {"type": "radio_buttons", "selected_option": {"value": "4"}}}
        for block in modal["blocks"]
        if block.get("block_id", "").startswith("q:")
    }
    values["comment"] = {"text": {"type": "plain_text_input", "value": comment}}
    values["about"] = {"choice": {"type": "static_select", "selected_option": about}}
    return {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "user": {"id": uid(person), "team_id": "T0TEST"},
        "view": {
            "id": f"V{uid(person)}",
            "type": "modal",
            "callback_id": modal["callback_id"],
            "private_metadata": modal["private_metadata"],
            "state": {"values": values},
        },
    }


async def round_of(slack: Slack, team: str) -> int:
    await slack.service.open_round(await slack.service.team_named(team))
    await slack.service.deliver_outbox()
    [dm] = slack.fake.called("chat.postMessage", channel=f"D{uid(team[-1].lower() + '0')}")
    [button] = [e for b in dm.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return int(button["value"])


async def general_comments(slack: Slack) -> list[str]:
    async with slack.service.db.engine.connect() as connection:
        found = await connection.execute(text("SELECT comment FROM general_comment"))
        return sorted(found.scalars())


async def test_the_modal_offers_general_first_then_each_statement_by_its_theme(
    slack: Slack,
) -> None:
    round_id = await round_of(slack, "Ward A")
    modal = await open_modal(slack, "a0", round_id)
    select = about_select(modal)
    [card] = await slack.service.pending_pulses(email("a0"))
    labels = [option["text"]["text"] for option in select["options"]]
    themes = [question.theme for question in card.questions]
    numbered = [
        theme + (f" ({n})" if themes[: n - 1].count(theme) else "")
        for n, theme in enumerate(themes, 1)
    ]
    assert labels == ["General", *numbered]  # the web chat's labels
    assert select["type"] == "static_select"
    assert select["initial_option"] == select["options"][0]  # General unless they choose
    [block] = [b for b in modal["blocks"] if b.get("block_id") == "about"]
    assert block["optional"] is True and block["label"]["text"] == "About"


async def test_a_choice_lands_where_it_was_made_and_shows_there_once_the_week_is_over(
    slack: Slack,
) -> None:
    service = slack.service
    service.clock = clock = FixedClock()
    round_id = await round_of(slack, "Ward A")
    [card] = await service.pending_pulses(email("a0"))
    second = card.questions[1]
    for i in range(10):
        person = f"a{i}"
        modal = await open_modal(slack, person, round_id)
        options = about_select(modal)["options"]
        if i < 4:
            said, about = f"General from {person}", options[0]
        elif i == 4:
            said, about = "About the second statement", options[2]
        else:
            said, about = "", options[0]
        reply = await slack.interaction(submission(person, modal, said, about))
        assert reply.status == 200 and await reply.text() == ""

    assert await general_comments(slack) == sorted(f"General from a{i}" for i in range(4))
    tied = {r.question_id: r.comment for r in await all_responses(service) if r.comment}
    assert tied == {second.id: "About the second statement"}

    await service.close_round(await service.team_named("Ward A"))
    await after_the_week(service, clock)
    response = await slack.command("/pulse", "trends", uid("manager.a"))
    assert response.status == 200
    channel = f"D{uid('manager.a')}"
    [report] = await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == channel
    )
    shown = texts(report.params["blocks"])
    for i in range(4):
        assert f"“General from a{i}” (General)" in shown
    assert f"“About the second statement” ({second.theme})" in shown


async def test_an_odd_about_value_is_refused_on_the_select_and_nothing_is_stored(
    slack: Slack,
) -> None:
    round_id = await round_of(slack, "Ward B")
    modal = await open_modal(slack, "b0", round_id)
    odd = {"text": {"type": "plain_text", "text": "Elsewhere"}, "value": "elsewhere"}
    reply = await slack.interaction(submission("b0", modal, "Words", odd))
    errors = await reply.json()
    assert errors["response_action"] == "errors" and set(errors["errors"]) == {"about"}
    # a statement this card doesn't have: the core refuses it, on the same select
    stranger = {"text": {"type": "plain_text", "text": "Other"}, "value": "q:not-on-this-card"}
    refused = await slack.interaction(submission("b0", modal, "Words", stranger))
    notice = await refused.json()
    assert notice["response_action"] == "errors" and "or general" in notice["errors"]["about"]
    assert await all_responses(slack.service) == [] and await general_comments(slack) == []
