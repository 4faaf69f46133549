"""Slack's Web API paced per workspace and method (``adapters/slack/pacing.py``): against a fake
Slack that allows only so many posts a second, a round still reaches everyone once; a 429 pauses
every send in flight together, so there is no second wave of 429s; a long ``Retry-After`` is left
to the outbox; a team channel gets about one post a second while DMs go on.  The real server and
messenger, the fake over HTTP; the pacer's own rules with an injected clock."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from datetime import timedelta

import pytest

from adapters.slack import SlackPlatform
from adapters.slack.pacing import MAX_WAIT, POST, Pacer, PausedTooLong, Ticket
from bot.outbox import MAX_ATTEMPTS
from bot.platforms import IdentityRouter
from bot.views import TextReply
from tests.fake_platform import Call, Canned
from tests.slack_support import Slack, uid
from tests.support import FixedClock
from tests.test_slack_home import shortcut


def platform_of(slack: Slack) -> SlackPlatform:
    router = slack.service.messenger
    assert isinstance(router, IdentityRouter)
    [platform] = router.platforms
    assert isinstance(platform, SlackPlatform)
    return platform


def posts(slack: Slack) -> list[Call]:
    return [c for c in slack.fake.calls if c.method == "chat.postMessage"]


async def test_a_throttled_slack_failing_at_random_reaches_everyone_once(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    clock = FixedClock()
    service.clock = clock
    fake.throttle_posts(4)
    dice = random.Random(11)
    for method in ("conversations.open", "chat.postMessage"):
        for _ in range(dice.randint(2, 5)):
            fake.queue(method, Canned(503, {"ok": False, "error": "service_unavailable"}))
    await service.open_round(await service.team_named("Ward A"))
    await service.deliver_outbox()
    for _ in range(MAX_ATTEMPTS):
        clock.now += timedelta(hours=1)  # past the longest back-off
        await service.deliver_outbox()
    posted = [call.params["channel"] for call in fake.called("chat.postMessage")]
    assert len(posted) == len(set(posted)) == 12
    assert fake.throttled >= 1  # the limit was reached, and lived with
    assert "Outbox: 0 pending, 0 in flight, 12 sent, 0 retrying, 0 failed" in (
        await service.status_report()
    )


async def test_a_429_pauses_every_send_in_flight_together(slack: Slack) -> None:
    """40 posts at once against a limit of 10 a second: the first go, the rest are refused; each
    refused send then waits for the same moment as every other (one pause for the workspace) and
    goes at the pace Slack accepted, so no send is refused again and none gives up."""
    fake, client = slack.fake, platform_of(slack).client
    fake.throttle_posts(10)
    channels = [f"DPACE{i:02d}" for i in range(40)]
    await asyncio.gather(*(client.chat_postMessage(channel=c, text="hello") for c in channels))
    answered = posts(slack)
    assert sorted(c.params["channel"] for c in answered if c.status == 200) == channels
    refused = [c for c in answered if c.status == 429]
    assert len(refused) >= 20  # the limit was reached by the sends in flight
    twice = Counter(c.params["channel"] for c in refused) - Counter(set(channels))
    assert sum(twice.values()) <= 2  # paced after the pause: not refused again
    retried = {c.params["channel"] for c in refused}
    after = [c for c in answered if c.status == 200 and c.params["channel"] in retried]
    assert all(c.at >= refused[0].at + 0.9 for c in after)  # all waited out the one pause


async def test_a_long_retry_after_is_left_to_the_outbox(slack: Slack) -> None:
    fake, service = slack.fake, slack.service
    clock = FixedClock()
    service.clock = clock
    pacer = platform_of(slack).pacer
    fake.rate_limit_next("chat.postMessage", retry_after=120)
    await service.open_round(await service.team_named("Tiny"))
    async with asyncio.timeout(MAX_WAIT):  # not waited out: the send gives its slot back
        first = await service.deliver_outbox()
    assert first < 3
    assert "retrying" in await service.status_report()
    assert [c.status for c in posts(slack)].count(429) == 1
    pacer.clock = lambda: time.monotonic() + 121  # the pause is over
    clock.now += timedelta(hours=1)  # and so is the outbox's back-off
    assert first + await service.deliver_outbox() == 3
    posted = [c.params["channel"] for c in fake.called("chat.postMessage")]
    assert len(posted) == len(set(posted)) == 3


async def test_a_team_channel_gets_about_one_post_a_second_while_dms_go_on(slack: Slack) -> None:
    messenger = platform_of(slack).messenger
    team = [messenger.post("CWARDA", TextReply(f"kudos {i}")) for i in range(6)]
    direct = [messenger.post(f"DKUDOS{i}", TextReply("hello")) for i in range(6)]
    await asyncio.gather(*team, *direct)
    in_channel = [c.at for c in slack.fake.called("chat.postMessage", channel="CWARDA")]
    dms = [c.at for c in slack.fake.called("chat.postMessage") if c.params["channel"] != "CWARDA"]
    assert len(in_channel) == len(dms) == 6
    # a short burst of 3, then one a second
    assert all(later - earlier >= 0.8 for earlier, later in itertools.pairwise(in_channel[2:]))
    assert max(dms) < in_channel[3]  # the DMs were not held behind the channel's pace


async def test_a_listener_call_waits_out_its_workspace_method_pause(slack: Slack) -> None:
    """``views.open`` from Bolt's listeners is paced too: after a 429 with ``Retry-After: 2``,
    another person's modal waits for the same pause rather than calling Slack at once."""
    fake = slack.fake
    fake.rate_limit_next("views.open", retry_after=2)
    first = shortcut(uid("a0"), uid("a1"), "thanks for the cover")
    assert (await slack.interaction(first)).status == 200
    await fake.wait_until(lambda: any(c.method == "views.open" for c in fake.calls))
    second = shortcut(uid("a2"), uid("a1"), "and for the coffee")
    assert (await slack.interaction(second)).status == 200
    opened = await fake.wait_for("views.open", count=2)
    [refused] = [c for c in fake.calls if c.method == "views.open" and c.status == 429]
    assert all(c.at >= refused.at + 1.9 for c in opened)


# -- the pacer's rules, with an injected clock ---------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_one_decrease_for_a_burst_of_429s_and_one_pause_for_everyone() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    sent = [await pacer.turn("xoxb-a", POST, f"D{i}") for i in range(40)]  # unpaced at first
    assert clock.slept == []
    for ticket in sent[:20]:
        pacer.accepted(ticket)
    waits = [pacer.refused(ticket, 2) for ticket in sent[20:]]
    assert waits == [2.0] * 20
    lane = sent[0].lane
    assert pacer.decreases == 1  # the 429s of one burst cut the rate once
    assert lane.rate is not None and 0.9 * 20 <= lane.rate < 20  # a little under what was accepted
    await asyncio.gather(*(pacer.turn("xoxb-a", POST, f"D{i}") for i in range(3)))
    assert sum(clock.slept) == pytest.approx(2.0)  # they all waited for the same moment
    other = await pacer.turn("xoxb-b", POST, "D0")  # another workspace is not paused
    assert other.lane is not lane and other.lane.rate is None


async def test_a_lane_kept_busy_without_429s_probes_upward_slowly() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    ticket = await pacer.turn("xoxb-a", POST)
    for _ in range(50):
        pacer.accepted(ticket)
    pacer.refused(ticket, 1)
    lane = ticket.lane
    paced = lane.rate
    assert paced is not None and paced < 50
    clock.now += 9
    await pacer.turn("xoxb-a", POST)
    assert lane.rate == paced  # not yet
    clock.now += 2
    for _ in range(45):
        pacer.accepted(Ticket(lane, lane.epoch))
    await pacer.turn("xoxb-a", POST)
    assert lane.rate == pytest.approx(paced * 1.01)
    clock.now += 30  # idle: no evidence Slack allows more
    await pacer.turn("xoxb-a", POST)
    assert lane.rate == pytest.approx(paced * 1.01)


async def test_a_429_with_nothing_accepted_before_starts_at_the_floor_and_doubles() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    ticket = await pacer.turn("xoxb-a", "conversations.open")
    pacer.refused(ticket, 1)
    lane = ticket.lane
    assert lane.rate == pytest.approx(50 / 60)  # Tier 3's published floor
    clock.now += 1.5
    pacer.accepted(await pacer.turn("xoxb-a", "conversations.open"))
    clock.now += 0.5
    pacer.accepted(Ticket(lane, lane.epoch))
    await pacer.turn("xoxb-a", "conversations.open")
    assert lane.rate == pytest.approx(2 * 50 / 60)


async def test_a_pause_longer_than_a_send_may_wait_is_raised_at_once() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    ticket = await pacer.turn("xoxb-a", POST, "D1")
    assert pacer.refused(ticket, 120) == 120
    with pytest.raises(PausedTooLong):
        await pacer.turn("xoxb-a", POST, "D2")
    assert clock.slept == []
