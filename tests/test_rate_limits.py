"""Kudos and commands are rate-limited per person (issue 14, "Limits"; docs/security.md).

A colleague who floods a team's channel with kudos, or the bot with commands, is told kindly to
wait; everyone else carries on, and pulse answers are never limited by person.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlmodel import func, select

from bot.conversation import Conversation
from bot.server import SERVICE
from bot.settings import Settings
from bot.views import KudosPost, Receipt, TextReply, View
from storage.engine import Database
from storage.models import Recognition
from surveys.organisation import spec_from_yaml
from tests.fake_slack import FakeSlack
from tests.slack_support import ORG, SECRET, TOKEN, Slack, connected, texts, uid
from tests.support import email, make_service, serve


def limited(settings: Settings, kudos: int = 20, commands: int = 30) -> Settings:
    return settings.model_copy(update={"kudos_per_hour": kudos, "commands_per_minute": commands})


def reply_text(views: list[View]) -> str:
    [view] = views
    assert isinstance(view, TextReply), view
    return view.text


async def kudos_given(db: Database) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(Recognition))).one()


async def test_kudos_past_the_hourly_limit_are_refused_kindly_and_not_posted(
    db: Database, settings: Settings
) -> None:
    service, messenger = await make_service(db, limited(settings, kudos=3))
    chat = Conversation(service)
    mistyped = await chat.handle(email("a0"), "kudos @a1 thanks for the cover")  # no #value
    assert "value" in reply_text(mistyped)
    for n in range(3):  # a mistyped one used none of the allowance
        [post] = await chat.handle(email("a0"), f"kudos @a1 thanks for shift {n} #teamwork")
        assert isinstance(post, KudosPost)
    posted = len(messenger.channel)

    refused = reply_text(await chat.handle(email("a0"), "kudos @a2 one more #teamwork"))
    assert refused.startswith("You've sent a lot of kudos this hour — try again in 60 minutes")
    assert await kudos_given(db) == 3 and len(messenger.channel) == posted  # nothing posted

    [other] = await chat.handle(email("a1"), "kudos @a0 thanks back #teamwork")
    assert isinstance(other, KudosPost)  # each person has their own allowance
    form = await chat.give_kudos(email("a0"), [email("a2")], "via the form", "teamwork")
    assert "try again in" in reply_text([reply.view for reply in form])


async def test_commands_past_the_minute_limit_are_refused_but_pulse_answers_never_are(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, limited(settings, commands=5))
    chat = Conversation(service)
    await service.open_round(await service.team_named("Ward B"))
    for _ in range(5):
        assert "pulse trends" in reply_text(await chat.handle(email("b1"), "pulse help"))
    refused = reply_text(await chat.handle(email("b1"), "pulse help"))
    assert refused.startswith("You've sent a lot of commands in the last minute — try again in")
    assert "second" in refused
    assert "pulse trends" in reply_text(await chat.handle(email("b2"), "pulse help"))

    [card] = await service.pending_pulses(email("b1"))
    answers = {question.id: 4 for question in card.questions}
    opened = await chat.open_card(email("b1"), card.round_id)
    assert opened == card
    receipt = await chat.submit_card(email("b1"), card.round_id, answers, "", None)
    assert isinstance(receipt, Receipt)


@pytest.fixture
async def strict_slack(settings: Settings) -> AsyncIterator[Slack]:
    fake = FakeSlack()
    await fake.start()
    for name in ("a0", "a1", "a2"):
        fake.add_user(uid(name), email(name))
    configured = connected(
        limited(settings, kudos=2), fake, slack_bot_token=TOKEN, slack_signing_secret=SECRET
    )
    running = await serve(configured)
    await running.app[SERVICE].import_organisation(spec_from_yaml(ORG))
    async with aiohttp.ClientSession() as http:
        yield Slack(running.url, fake, running.app[SERVICE], http)
    await running.runner.cleanup()
    await fake.stop()


async def test_slack_kudos_past_the_limit_get_an_ephemeral_try_again(strict_slack: Slack) -> None:
    slack, fake = strict_slack, strict_slack.fake
    for n in range(3):
        response = await slack.command(
            "/kudos", f"<@{uid('a1')}|a1> thanks for shift {n} #teamwork", uid("a0")
        )
        assert response.status == 200
    replies = await fake.wait_for("response_url", count=3)
    told = [texts(reply.params) for reply in replies]
    assert sum("try again in 60 minutes" in text for text in told) == 1, told
    assert all(reply.params["response_type"] == "ephemeral" for reply in replies)
    assert await kudos_given(slack.service.db) == 2
