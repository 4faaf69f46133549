"""Slack's App Home tab and the "Give kudos" message shortcut, end to end over signed requests."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from bot.conversation import Conversation
from bot.service import TeamPulse
from storage.models import Recognition
from tests.slack_support import (
    Slack,
    home_click,
    question_blocks,
    scores,
    texts,
    uid,
    view_submission,
)
from tests.support import FixedClock, after_the_week, email


async def answer(service: TeamPulse, who: list[str]) -> None:
    for name in who:
        [card] = await service.pending_pulses(email(name))
        answers = {q.id: 4 for q in card.questions}
        await service.submit_pulse(email(name), card.round_id, answers)


def buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    found = [b["accessory"] for b in view["blocks"] if b.get("accessory")]
    found += [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return found


async def test_home_tab_shows_the_pulse_streak_and_kudos_to_the_person_only(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    for answered in (["b0", "b1", "b2", "b3", "b4"], ["b0", "b2", "b3", "b4", "b5"]):
        await service.open_round(await service.team_named("Ward B"))
        await answer(service, answered)
        await service.close_round(await service.team_named("Ward B"))
    await service.open_round(await service.team_named("Ward B"))
    conversation = Conversation(service)
    await conversation.handle(email("a1"), f"kudos @{email('b0')} covered my shift #teamwork")
    await conversation.handle(email("b0"), f"kudos @{email('a3')} great teaching #learning")
    assert (await conversation.home(email("b1"))).streak == 0
    assert (await conversation.home(email("b5"))).streak == 1
    unknown = await conversation.home("stranger@elsewhere.example")
    assert unknown.notice and not unknown.pulses

    opened = {"type": "app_home_opened", "user": uid("b0"), "channel": "DB0", "tab": "home"}
    assert (await slack.event(opened, "Ev0HOME1")).status == 200
    [published] = await fake.wait_for("views.publish")
    assert published.params["user_id"] == uid("b0")
    view = published.params["view"]
    shown = texts(view)
    assert view["type"] == "home"
    assert "last *2* pulses" in shown and "Only you can see your streak" in shown
    assert "covered my shift" in shown and "From *A1*" in shown  # received, and from whom
    assert "great teaching" in shown and "To *A3* · #learning" in shown  # given
    [pulse] = buttons(view)
    assert pulse["action_id"] == "pulse_open" and pulse["text"]["text"] == "Answer the pulse"
    assert "Latest trends" not in shown

    # "Answer the pulse" on the Home tab: the same modal; after submitting, the tab is re-published
    click = home_click(uid("b0"), {"action_id": "pulse_open", "value": pulse["value"]})
    assert (await slack.interaction(click)).status == 200
    [modal_call] = await fake.wait_for("views.open")
    modal = modal_call.params["view"]
    submitted = view_submission(uid("b0"), modal, scores(question_blocks(modal), 5))
    assert (await slack.interaction(submitted)).status == 200
    [_, again] = await fake.wait_for("views.publish", count=2)
    assert "No pulse is waiting" in texts(again.params["view"])
    assert fake.called("chat.update") == []  # no DM message to replace from the Home tab

    # other tabs are not published
    messages = {**opened, "tab": "messages"}
    assert (await slack.event(messages, "Ev0HOME2")).status == 200


async def test_a_managers_home_tab_sends_the_latest_trends_to_the_dm(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    service.clock = clock = FixedClock()
    await service.open_round(await service.team_named("Ward B"))
    await answer(service, [f"b{i}" for i in range(6)])
    await service.close_round(await service.team_named("Ward B"))
    await after_the_week(service, clock)
    opened = {"type": "app_home_opened", "user": uid("manager.b"), "channel": "D1", "tab": "home"}
    assert (await slack.event(opened, "Ev0HOME3")).status == 200
    [published] = await fake.wait_for("views.publish")
    [trends] = [b for b in buttons(published.params["view"]) if b["action_id"] == "home_trends"]
    assert trends["text"]["text"] == "Latest trends"
    click = home_click(uid("manager.b"), {"action_id": "home_trends", "value": "trends"})
    assert (await slack.interaction(click)).status == 200
    channel = f"D{uid('manager.b')}"
    [report] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == channel)
    assert "Trends: Ward B" in texts(report.params["blocks"])
    await fake.wait_for("files.completeUploadExternal")


def shortcut(user: str, author: str, text: str) -> dict[str, Any]:
    return {
        "type": "message_action",
        "callback_id": "give_kudos",
        "trigger_id": "13345224609.738474920.8088930838d88f008e1",
        "user": {"id": user, "name": "someone"},
        "team": {"id": "T0TEST", "domain": "test"},
        "channel": {"id": "CWARDA", "name": "ward-a"},
        "message": {"type": "message", "user": author, "text": text, "ts": "1700000300.000100"},
        "message_ts": "1700000300.000100",
        "response_url": "https://hooks.slack.invalid/unused",
    }


async def test_the_give_kudos_shortcut_runs_the_kudos_path(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    response = await slack.interaction(
        shortcut(uid("a0"), uid("a1"), "I&apos;ve restocked the *resus trolley* :tada:")
    )
    assert response.status == 200
    [opened] = await fake.wait_for("views.open")
    assert opened.params["trigger_id"] == "13345224609.738474920.8088930838d88f008e1"
    modal = opened.params["view"]
    blocks = {b["block_id"]: b["element"] for b in modal["blocks"]}
    assert blocks["kudos_to"]["initial_users"] == [uid("a1")]
    assert "restocked the *resus trolley*" in blocks["kudos_message"]["initial_value"]
    tags = [o["value"] for o in blocks["kudos_value"]["options"]]
    assert tags == list(service.settings.kudos_values)

    def submission(values: dict[str, Any]) -> dict[str, Any]:
        return view_submission(uid("a0"), modal, values, view_id="V0002")

    chosen = {
        "kudos_to": {"users": {"type": "multi_users_select", "selected_users": [uid("a1")]}},
        "kudos_message": {"text": {"type": "plain_text_input", "value": "Thanks for the trolley"}},
    }
    refused = await slack.interaction(submission(chosen))
    reply = await refused.json()
    assert reply["response_action"] == "errors" and set(reply["errors"]) == {"kudos_value"}

    chosen["kudos_value"] = {"value": {"selected_option": {"value": "teamwork"}}}
    accepted = await slack.interaction(submission(chosen))
    assert accepted.status == 200 and await accepted.text() == ""
    [posted] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == "CWARDA")
    assert "Thanks for the trolley" in texts(posted.params["blocks"])
    await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == f"D{uid('a1')}")
    [told] = await fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == f"D{uid('a0')}"
    )
    assert "#teamwork" in texts(told.params["blocks"])
    async with service.db.session() as session:
        [kudos] = (await session.exec(select(Recognition))).all()
    assert kudos.value == "teamwork" and kudos.message == "Thanks for the trolley"

    # thanking yourself through the shortcut: told in the DM, nothing saved
    chosen["kudos_to"] = {"users": {"selected_users": [uid("a0")]}}
    await slack.interaction(submission(chosen))
    [_, refusal] = await fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == f"D{uid('a0')}", count=2
    )
    assert "can't thank yourself" in texts(refusal.params["blocks"])
    assert json.dumps(refusal.params).count("trolley") == 0


async def test_a_kudos_on_the_home_tab_is_inert(slack: Slack) -> None:
    """Someone else's words on the tab can't become a disguised link or a mention."""
    disguised = "see <https://evil.example|your rota> and <!channel>"
    await Conversation(slack.service).handle(
        email("a1"), f"kudos @{email('b0')} thanks, {disguised} #teamwork"
    )
    opened = {"type": "app_home_opened", "user": uid("b0"), "channel": "DB0", "tab": "home"}
    assert (await slack.event(opened, "Ev0HOMEX")).status == 200
    [published] = await slack.fake.wait_for("views.publish")
    shown = texts(published.params["view"])
    assert "your rota" in shown and "<https://" not in shown and "<!channel>" not in shown
