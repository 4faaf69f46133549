"""A first pulse finds people through the workspace's directory, read once (``users.list``, every
page) rather than one ``users.lookupByEmail`` each; read again after an hour; and when Slack refuses
the reading, people are looked up by email as before.  The real server, the fake Slack."""

from __future__ import annotations

import asyncio

import pytest

from adapters.slack import SlackPlatform
from bot.platforms import IdentityRouter
from bot.ports import Recipient, Unreachable
from bot.views import TextReply
from tests.slack_support import Slack, uid
from tests.support import email


def platform_of(slack: Slack) -> SlackPlatform:
    router = slack.service.messenger
    assert isinstance(router, IdentityRouter)
    [platform] = router.platforms
    assert isinstance(platform, SlackPlatform)
    return platform


async def recipient(slack: Slack, name: str) -> Recipient:
    found = await slack.service.identities.recipient(email(name))
    assert found is not None
    return found


async def test_a_round_reads_the_directory_once_page_by_page(slack: Slack) -> None:
    fake = slack.fake
    fake.page_size = 5  # 25 people (and Slackbot) in the workspace: 5 pages
    await slack.service.open_round(await slack.service.team_named("Ward A"))
    assert await slack.service.deliver_outbox() == 12
    pages = fake.called("users.list")
    assert [c.params.get("cursor") for c in pages] == [
        None,
        *(f"page-{n}" for n in (5, 10, 15, 20)),
    ]
    assert fake.called("users.lookupByEmail") == []
    opened = {c.params["users"] for c in fake.called("conversations.open")}
    assert opened == {uid(f"a{i}") for i in range(12)}


async def test_sends_at_once_share_one_reading(slack: Slack) -> None:
    messenger = platform_of(slack).messenger
    card = TextReply("hello")
    people = [await recipient(slack, f"b{i}") for i in range(6)]
    await asyncio.gather(*(messenger.send_direct(person, card) for person in people))
    assert len(slack.fake.called("users.list")) == 1
    assert len(slack.fake.called("chat.postMessage")) == 6


async def test_someone_who_joined_slack_later_is_found_at_the_next_reading(slack: Slack) -> None:
    platform = platform_of(slack)
    now = [1000.0]
    platform.directory.clock = lambda: now[0]
    messenger, fake = platform.messenger, slack.fake
    fake.users.pop(uid("director"))  # not on Slack yet
    await messenger.send_direct(await recipient(slack, "a0"), TextReply("hello"))
    newcomer = await recipient(slack, "director")
    fake.add_user("UNEWDIRECTOR", email("director"))  # joins Slack after the reading
    with pytest.raises(Unreachable):  # not in the directory read: the outbox tries again later
        await messenger.send_direct(newcomer, TextReply("hello"))
    assert len(fake.called("users.list")) == 1 and fake.called("users.lookupByEmail") == []
    now[0] += 3601  # an hour on: read again
    await messenger.send_direct(newcomer, TextReply("hello"))
    assert len(fake.called("users.list")) == 2
    assert fake.called("chat.postMessage", channel="DUNEWDIRECTOR")


async def test_a_refused_reading_falls_back_to_look_ups_by_email(slack: Slack) -> None:
    fake = slack.fake
    fake.error_next("users.list", 200, {"ok": False, "error": "missing_scope"})
    await slack.service.open_round(await slack.service.team_named("Ward B"))
    assert await slack.service.deliver_outbox() == 6
    assert len(fake.called("users.list")) == 1  # not asked again for each person
    assert {c.params["email"] for c in fake.called("users.lookupByEmail")} == {
        email(f"b{i}") for i in range(6)
    }
