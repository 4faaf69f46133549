"""Slack end to end: the real server on a real port, real signed requests into ``/slack/events``,
and a local fake of the Slack Web API (``tests/fake_slack.py``) behind ``SLACK_API_URL``."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import main
from storage.models import ConversationReference, PlatformIdentity, Recognition
from tests.slack_support import (
    Slack,
    all_responses,
    comment,
    dm_message,
    pulse_click,
    question_blocks,
    scores,
    texts,
    uid,
    view_submission,
)
from tests.support import FixedClock, after_the_week, email


# -- the gate -----------------------------------------------------------------------------------
async def test_url_verification_is_answered(slack: Slack) -> None:
    body = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    response = await slack.post(body, "application/json")
    assert response.status == 200
    assert (await response.json())["challenge"].startswith("3eZbrw1aBm")


async def test_a_bad_signature_gets_401_and_changes_nothing(slack: Slack) -> None:
    text = f"<@{uid('a1')}|a1> thanks #teamwork"
    wrong = await slack.command("/kudos", text, uid("a0"), secret="not-the-secret")
    assert wrong.status == 401 and (await wrong.json())["error"] == "invalid request"
    stale = await slack.command("/kudos", text, uid("a0"), timestamp=int(time.time()) - 360)
    assert stale.status == 401
    unsigned = await slack.http.post(
        slack.url + "/slack/events",
        data="command=/kudos&user_id=U1&text=hi",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status == 401
    garbled = await slack.http.post(
        slack.url + "/slack/events",
        data="command=/kudos",
        headers={"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=00"},
    )
    assert garbled.status == 401
    superscript = await slack.http.post(  # a digit to str.isdigit, not to int()
        slack.url + "/slack/events",
        data="command=/kudos",
        headers={"X-Slack-Request-Timestamp": "\u00b2", "X-Slack-Signature": "v0=00"},
    )
    assert superscript.status == 401
    assert slack.fake.calls == []
    async with slack.service.db.session() as session:
        assert (await session.exec(select(Recognition))).all() == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("%%%zzz&&&", "application/x-www-form-urlencoded"),
        ("payload=not-json", "application/x-www-form-urlencoded"),
        (
            "payload=" + json.dumps({"type": "mystery", "user": {"id": "U1"}}),
            "application/x-www-form-urlencoded",
        ),
        ("payload=" + json.dumps(["a", "list"]), "application/x-www-form-urlencoded"),
        (
            "payload="
            + json.dumps({"type": "view_submission", "user": {"id": "U1"}, "view": {"id": "V"}}),
            "application/x-www-form-urlencoded",
        ),
        ("{not json", "application/json"),
        (json.dumps({"type": "nope"}), "application/json"),
        (json.dumps({"type": "event_callback", "event": "x"}), "application/json"),
    ],
)
async def test_malformed_payloads_are_400_not_500(
    slack: Slack, body: str, content_type: str
) -> None:
    response = await slack.post(body, content_type)
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]


# -- the pulse ----------------------------------------------------------------------------------
async def test_full_pulse_flow_from_scheduled_dm_to_an_anonymous_answer(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    await service.open_round(await service.team_named("Ward B"))
    assert await service.deliver_outbox() == 6
    person = "b0"
    channel = f"D{uid(person)}"
    # the workspace's directory read once (not a look-up by email each), then the DM opened
    assert len(fake.called("users.list")) == 1 and fake.called("users.lookupByEmail") == []
    assert fake.called("conversations.open", users=uid(person))
    [dm] = fake.called("chat.postMessage", channel=channel)
    [button] = [
        element
        for block in dm.params["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert button["action_id"] == "pulse_open"
    round_id = int(button["value"])
    ts = dm.answer["ts"]

    clicked = await slack.interaction(
        pulse_click(
            uid(person),
            round_id,
            channel,
            ts,
            channel={"id": channel, "name": "directmessage"},
            message={"ts": ts, "blocks": dm.params["blocks"]},
            response_url=fake.response_url("action"),
        )
    )
    assert clicked.status == 200
    [opened] = await fake.wait_for("views.open")
    modal = opened.params["view"]
    assert opened.params["trigger_id"] == "12466734323.1395872398"
    questions = question_blocks(modal)
    assert 2 <= len(questions) <= 5

    def submission(values: dict[str, Any]) -> dict[str, Any]:
        return view_submission(uid(person), modal, values)

    partial = scores(questions[:1], 4)
    refused = await slack.interaction(submission(partial))
    assert refused.status == 200
    errors = await refused.json()
    assert errors["response_action"] == "errors" and set(errors["errors"]) == set(questions[1:])
    assert await all_responses(service) == []

    values = scores(questions, lambda n: 2 + n % 3) | comment("Handover ran late again")
    accepted = await slack.interaction(submission(values))
    assert accepted.status == 200 and (await accepted.text()) == ""

    rows = await all_responses(service)
    assert len(rows) == len(questions)
    assert sorted(r.score for r in rows) == sorted(2 + n % 3 for n in range(len(questions)))
    assert [r.comment for r in rows if r.comment] == ["Handover ran late again"]
    stored = " ".join(str(v) for row in rows for v in row.model_dump().values())
    for identifier in (uid(person), channel, email(person), ts, "T0TEST", "V0001"):
        assert identifier not in stored

    [update] = await fake.wait_for("chat.update")
    assert update.params["channel"] == channel and update.params["ts"] == ts
    shown = texts(update.params["blocks"]) + update.params["text"]
    assert "answered" in shown
    for label in ("Strongly", "Agree", "Disagree", "Neither", "Handover"):
        assert label not in shown

    again = await slack.interaction(submission(values))
    assert again.status == 200
    reply = await again.json()
    assert reply["response_action"] == "update" and "already answered" in texts(reply["view"])
    assert len(await all_responses(service)) == len(questions)

    # the button again: a polite notice, not a second modal of questions
    await slack.interaction(
        pulse_click(uid(person), round_id, channel, ts, trigger_id="12466734323.1395872400")
    )
    [_, notice] = await fake.wait_for("views.open", count=2)
    assert "already answered" in texts(notice.params["view"])
    async with service.db.session() as session:
        identities = (await session.exec(select(PlatformIdentity))).all()
        references = (await session.exec(select(ConversationReference))).all()
    assert {i.external_id for i in identities} >= {uid(f"b{i}") for i in range(6)}
    assert len(references) == 6


# -- kudos, trends, events ----------------------------------------------------------------------
async def test_kudos_go_to_the_team_channel_and_the_recipient(slack: Slack) -> None:
    fake = slack.fake
    response = await slack.command(
        "/kudos", f"<@{uid('a1')}|a1> thanks for the night shift &amp; more #teamwork", uid("a0")
    )
    assert response.status == 200
    [posted] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == "CWARDA")
    shown = texts(posted.params["blocks"])
    assert "thanks for the night shift & more" in shown and "#teamwork" in shown
    [told] = await fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == f"D{uid('a1')}"
    )
    assert "night shift" in texts(told.params["blocks"])
    [reply] = await fake.wait_for("response_url")
    assert reply.params["response_type"] == "ephemeral" and "night shift" in texts(reply.params)
    async with slack.service.db.session() as session:
        [kudos] = (await session.exec(select(Recognition))).all()
    assert kudos.value == "teamwork"


async def test_kudos_problems_are_told_to_the_giver_only(slack: Slack) -> None:
    await slack.command("/kudos", f"<@{uid('a1')}|a1> thanks", uid("a0"))
    [reply] = await slack.fake.wait_for("response_url")
    assert "Add a value" in texts(reply.params) and reply.params["response_type"] == "ephemeral"
    assert slack.fake.called("chat.postMessage") == []


async def test_trends_ack_at_once_then_dm_the_report_with_the_chart(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    service.clock = clock = FixedClock()
    await service.open_round(await service.team_named("Ward B"))
    for i in range(6):
        [card] = await service.pending_pulses(email(f"b{i}"))
        answers = {q.id: 1 + (i + n) % 5 for n, q in enumerate(card.questions)}
        await service.submit_pulse(email(f"b{i}"), card.round_id, answers)
    await service.close_round(await service.team_named("Ward B"))
    await after_the_week(service, clock)

    response = await slack.command("/pulse", "trends", uid("manager.b"))
    assert response.status == 200
    assert "Working on it" in await response.text()

    channel = f"D{uid('manager.b')}"
    [report] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == channel)
    assert "Trends: Ward B" in texts(report.params["blocks"])
    [step1] = await fake.wait_for("files.getUploadURLExternal")
    [step2] = await fake.wait_for("upload")
    [step3] = await fake.wait_for("files.completeUploadExternal")
    assert step2.params["file_id"] == step3.params["files"][0]["id"]
    assert step2.body.startswith(b"\x89PNG") and int(step1.params["length"]) == len(step2.body)
    assert step3.params["channel_id"] == channel and step1.params.get("alt_txt")
    order = [c.method for c in fake.calls]
    assert (
        order.index("files.getUploadURLExternal")
        < order.index("upload")
        < order.index("files.completeUploadExternal")
    )
    [done] = await fake.wait_for("response_url")
    assert "direct messages" in done.params["text"]


async def test_trends_are_refused_to_a_member(slack: Slack) -> None:
    response = await slack.command("/pulse", "trends", uid("a3"))
    assert response.status == 200
    [reply] = await slack.fake.wait_for("response_url")
    assert "for managers" in texts(reply.params)
    assert slack.fake.called("chat.postMessage") == []


async def test_a_redelivered_event_is_handled_once(slack: Slack) -> None:
    fake = slack.fake
    channel = f"D{uid('a2')}"
    message = dm_message(uid("a2"), "pulse help")
    first = await slack.event(message, "Ev0HELP")
    assert first.status == 200
    retried = await slack.event(message, "Ev0HELP", retry=1)
    assert retried.status == 200 and retried.headers.get("X-Slack-No-Retry") == "1"
    status = {**message, "text": "pulse status", "ts": "1700000101.000100"}
    assert (await slack.event(status, "Ev0STATUS")).status == 200
    replies = await fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == channel, count=2
    )
    assert sum("kudos" in texts(c.params["blocks"]) for c in replies) == 1
    assert sum("Your teams" in texts(c.params["blocks"]) for c in replies) == 1
    # the bot's own messages and edits are not answered
    own = {**message, "bot_id": "BBOT", "ts": "1700000102.000100"}
    assert (await slack.event(own, "Ev0OWN")).status == 200
    assert (
        await slack.event(
            {"type": "app_home_opened", "user": uid("a2"), "channel": channel, "tab": "home"},
            "Ev0HOME",
        )
    ).status == 200


async def test_a_429_is_retried_after_retry_after_and_posted_once(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    fake.rate_limit_next("chat.postMessage", retry_after=1)
    await service.open_round(await service.team_named("Tiny"))
    assert await service.deliver_outbox() == 3
    attempts = [c for c in fake.calls if c.method == "chat.postMessage"]
    assert sorted(c.status for c in attempts) == [200, 200, 200, 429]
    [limited] = [c for c in attempts if c.status == 429]
    # the limited message is posted again, once, after the wait
    assert [c.params for c in attempts if c.status == 200].count(limited.params) == 1
    channels = [c.params["channel"] for c in attempts if c.status == 200]
    assert sorted(channels) == sorted(f"D{uid(f't{i}')}" for i in range(3))


async def test_someone_slack_cannot_find_is_left_in_the_outbox(slack: Slack) -> None:
    del slack.fake.users[uid("t1")]
    await slack.service.open_round(await slack.service.team_named("Tiny"))
    assert await slack.service.deliver_outbox() == 2
    status = await slack.service.status_report()
    assert "1 waiting" in status


def test_manifest_lists_exactly_what_the_bot_uses() -> None:
    result = CliRunner().invoke(
        main, ["manifest", "slack", "--url", "https://pulse.example.nhs.uk/"]
    )
    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(result.output)
    url = "https://pulse.example.nhs.uk/slack/events"
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "chat:write",
        "commands",
        "im:write",
        "im:history",
        "users:read",
        "users:read.email",
        "files:write",
        "app_mentions:read",
        "channels:read",
        "groups:read",
        "usergroups:read",
    }
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "message.im",
        "app_mention",
        "app_uninstalled",
        "tokens_revoked",
        "member_joined_channel",
        "member_left_channel",
        "subteam_members_changed",
    }
    assert settings["event_subscriptions"]["request_url"] == url
    assert settings["interactivity"] == {"is_enabled": True, "request_url": url}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["shortcuts"] == [
        {
            "name": "Give kudos",
            "type": "message",
            "callback_id": "give_kudos",
            "description": "Celebrate the colleague who wrote this",
        }
    ]
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {"/pulse", "/kudos"}
    assert all(
        c["url"] == url and c["usage_hint"] and c["should_escape"] for c in commands.values()
    )
    bad = CliRunner().invoke(main, ["manifest", "slack", "--url", "pulse.example"])
    assert bad.exit_code != 0


async def test_a_mention_in_a_channel_is_answered_to_the_asker_only(slack: Slack) -> None:
    mention = {
        "type": "app_mention",
        "channel": "CWARDA",
        "user": uid("a4"),
        "text": "<@UBOT> pulse help",
        "ts": "1700000200.000100",
    }
    assert (await slack.event(mention, "Ev0MENTION")).status == 200
    [reply] = await slack.fake.wait_for("chat.postEphemeral")
    assert reply.params["channel"] == "CWARDA" and reply.params["user"] == uid("a4")
    assert "kudos" in texts(reply.params["blocks"])
    assert slack.fake.called("chat.postMessage") == []
