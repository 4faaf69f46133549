"""The pulse's DM becomes its receipt once the answers are stored (``adapters/slack/receipts.py``
sends that ``chat.update`` itself, over the adapter's pooled connection): the same message for
everyone of a team, each in their own DM, and still shown when Slack asks to slow down or drops
the connection."""

from __future__ import annotations

from typing import Any

from tests.fake_slack import TOKEN
from tests.slack_support import (
    Slack,
    pulse_click,
    question_blocks,
    scores,
    texts,
    uid,
    view_submission,
)


async def answer(slack: Slack, person: str, n: int) -> str:
    """``person`` opens their pulse from its DM and submits it; the DM's channel."""
    channel = f"D{uid(person)}"
    [dm] = slack.fake.called("chat.postMessage", channel=channel)
    [round_id] = [
        int(element["value"])
        for block in dm.params["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    ts = dm.answer["ts"] if dm.answer else f"1.{n}"
    clicked = pulse_click(uid(person), round_id, channel, ts, trigger_id=f"1.{n}")
    assert (await slack.interaction(clicked)).ok
    opened = (await slack.fake.wait_for("views.open", count=n))[-1]
    modal: dict[str, Any] = opened.params["view"]
    values = scores(question_blocks(modal), 4)
    reply = await slack.interaction(view_submission(uid(person), modal, values))
    assert reply.status == 200 and await reply.text() == ""
    return channel


def updated(slack: Slack, channel: str) -> bool:
    return bool(slack.fake.called("chat.update", channel=channel))


async def test_each_dm_becomes_the_same_receipt_after_a_429_and_a_dropped_connection(
    slack: Slack,
) -> None:
    await slack.service.open_round(await slack.service.team_named("Ward B"))
    assert await slack.service.deliver_outbox() == 6
    fake = slack.fake
    pulses = {
        c.params["channel"]: c.answer["ts"] for c in fake.called("chat.postMessage") if c.answer
    }

    first = await answer(slack, "b0", 1)
    fake.rate_limit_next("chat.update", retry_after=1)
    second = await answer(slack, "b1", 2)
    fake.lose_answer("chat.update", arrives=False, disconnect=True)
    third = await answer(slack, "b2", 3)

    updates = await fake.wait_for("chat.update", count=3)
    by_channel = {u.params["channel"]: u for u in updates}
    assert set(by_channel) == {first, second, third}
    for channel, update in by_channel.items():
        assert update.params["ts"] == pulses[channel]  # the pulse's own message, replaced
        assert update.params["_token"] == TOKEN
    shown = {texts(u.params["blocks"]) + u.params["text"] for u in updates}
    assert len(shown) == 1  # everyone of the team sees the same receipt
    [receipt] = shown
    assert "answered" in receipt and "Ward B" in receipt
    # the 429 and the lost call were made, and each was made again
    statuses = sorted(c.status for c in fake.calls if c.method == "chat.update")
    assert statuses == [0, 200, 200, 200, 429]
