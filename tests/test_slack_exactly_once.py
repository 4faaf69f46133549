"""Slack exactly once: a pulse carries its delivery key in message metadata, and a send whose
outcome is unknown (the process died waiting for Slack's answer, or the answer was lost) is
checked against the person's DM before anything is sent again.

Through the real server, its Slack adapter and the fake Slack Web API; the lease runs out on the
service's clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.outbox import LEASE
from storage.models import Delivery, DeliveryStatus
from tests.slack_support import Slack
from tests.support import FixedClock

WARD_A = [f"DU{f'a{i}'.upper()}" for i in range(12)]  # the DM channels of a0…a11


@pytest.fixture
def clock(slack: Slack) -> FixedClock:
    """The service's clock, moved by the tests (leases and back-offs run out on it)."""
    fixed = FixedClock()
    slack.service.clock = fixed
    return fixed


async def statuses(slack: Slack) -> Counter[str]:
    async with slack.service.db.session() as session:
        return Counter(row.status for row in (await session.exec(select(Delivery))).all())


def pulses_per_person(slack: Slack) -> dict[str, int]:
    return {channel: len(slack.fake.pulses(channel)) for channel in WARD_A}


async def crash_mid_send(slack: Slack, clock: FixedClock, *, arrived: bool) -> int:
    """Open Ward A's round and drain it while one ``chat.postMessage`` gets no answer (posted
    first if ``arrived``), then kill the drain as a dying process would, and let the lease run
    out."""
    slack.fake.lose_answer("chat.postMessage", arrives=arrived, hang=True)
    await slack.service.open_round(await slack.service.team_named("Ward A"))
    drain = asyncio.ensure_future(slack.service.deliver_outbox())
    await slack.fake.wait_until(lambda: slack.fake.held == 1)
    await slack.fake.wait_for("chat.postMessage", count=11 + arrived)
    drain.cancel()
    await asyncio.gather(drain, return_exceptions=True)
    in_flight = (await statuses(slack))[DeliveryStatus.SENDING]
    assert in_flight >= 1
    clock.now += LEASE + timedelta(seconds=1)
    return in_flight


async def test_a_pulse_carries_its_delivery_key_in_message_metadata(slack: Slack) -> None:
    await slack.service.open_round(await slack.service.team_named("Ward B"))
    assert await slack.service.deliver_outbox() == 6
    async with slack.service.db.session() as session:
        ids = {row.id for row in (await session.exec(select(Delivery))).all()}
    posts = slack.fake.called("chat.postMessage")
    carried = {call.params["metadata"]["event_payload"]["key"] for call in posts}
    assert carried == {f"pulse:{row_id}" for row_id in ids}
    assert {call.params["metadata"]["event_type"] for call in posts} == {"teampulse_delivery"}
    assert not slack.fake.called("conversations.history")  # nothing to check on a clean send


async def test_a_post_that_arrived_before_the_process_died_is_not_sent_again(
    slack: Slack, clock: FixedClock
) -> None:
    in_flight = await crash_mid_send(slack, clock, arrived=True)
    assert await slack.service.deliver_outbox() == in_flight  # the restart's drain
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
    assert len(slack.fake.called("chat.postMessage")) == 12
    checked = slack.fake.called("conversations.history", include_all_metadata="1")
    assert checked  # the unknown outcome was read back, not guessed
    assert await statuses(slack) == {DeliveryStatus.SENT: 12}


async def test_a_post_that_never_reached_slack_is_sent_once_after_the_restart(
    slack: Slack, clock: FixedClock
) -> None:
    in_flight = await crash_mid_send(slack, clock, arrived=False)
    assert await slack.service.deliver_outbox() == in_flight
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
    assert len(slack.fake.called("chat.postMessage")) == 12
    assert slack.fake.called("conversations.history")
    assert await statuses(slack) == {DeliveryStatus.SENT: 12}


async def test_a_lost_answer_to_a_post_that_arrived_counts_as_sent(
    slack: Slack, clock: FixedClock
) -> None:
    """Slack posted, then answered 500: the DM is read back at once and the pulse is sent."""
    slack.fake.lose_answer("chat.postMessage", arrives=True)
    await slack.service.open_round(await slack.service.team_named("Ward A"))
    assert await slack.service.deliver_outbox() == 12
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
    assert await statuses(slack) == {DeliveryStatus.SENT: 12}
    assert "0 retrying, 0 failed" in await slack.service.status_report()


async def test_a_lost_answer_to_a_post_that_never_arrived_is_retried_once(
    slack: Slack, clock: FixedClock
) -> None:
    slack.fake.lose_answer("chat.postMessage", arrives=False)
    await slack.service.open_round(await slack.service.team_named("Ward A"))
    assert await slack.service.deliver_outbox() == 11
    assert await statuses(slack) == {DeliveryStatus.SENT: 11, DeliveryStatus.PENDING: 1}
    clock.now += timedelta(hours=1)  # past the back-off
    assert await slack.service.deliver_outbox() == 1
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
    assert await statuses(slack) == {DeliveryStatus.SENT: 12}


async def test_a_dropped_connection_after_slack_posted_never_posts_twice(
    slack: Slack, clock: FixedClock
) -> None:
    """The connection drops after Slack posted: the Slack client does not post again by itself,
    and the DM read back shows the pulse arrived."""
    slack.fake.lose_answer("chat.postMessage", arrives=True, disconnect=True)
    await slack.service.open_round(await slack.service.team_named("Ward A"))
    await slack.service.deliver_outbox()
    clock.now += timedelta(hours=1)
    await slack.service.deliver_outbox()
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
    assert await statuses(slack) == {DeliveryStatus.SENT: 12}
