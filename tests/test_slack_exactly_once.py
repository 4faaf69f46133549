"""Slack exactly once: a pulse carries its delivery key in message metadata, and a send whose
outcome is unknown (the process died waiting for Slack's answer, or the answer was lost) is
checked against the person's DM before anything is sent again.

Through the real server, its Slack adapter and the fake Slack Web API; the lease runs out on the
service's clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import select

from bot.outbox import LEASE
from storage.models import Delivery, DeliveryStatus, PulseRound
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


async def test_a_check_that_could_not_read_slack_is_asked_again_before_any_resend(
    slack: Slack, clock: FixedClock
) -> None:
    """After the crash every pulse had reached Slack; the restart's read-back fails once per
    row (Slack refusing ``conversations.history``): nothing is sent on a guess, and the next
    attempt reads the DM again and finds the pulse."""
    in_flight = await crash_mid_send(slack, clock, arrived=True)
    for _ in range(in_flight):
        slack.fake.fail_next("conversations.history")
    assert await slack.service.deliver_outbox() == 0
    assert len(slack.fake.called("chat.postMessage")) == 12  # nothing sent again
    left = await statuses(slack)
    assert (left[DeliveryStatus.SENT], left[DeliveryStatus.UNCHECKED]) == (
        12 - in_flight,
        in_flight,
    )
    assert left.total() == 12
    assert f"{in_flight} retrying" in await slack.service.status_report()
    clock.now += timedelta(hours=1)  # past the back-off
    assert await slack.service.deliver_outbox() == in_flight  # found this time
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
    assert len(slack.fake.called("chat.postMessage")) == 12
    assert await statuses(slack) == {DeliveryStatus.SENT: 12}


async def test_a_lost_answer_whose_dm_could_not_be_read_is_checked_before_a_resend(
    slack: Slack, clock: FixedClock
) -> None:
    """Slack posted and answered 500, and the DM read back at once is refused too: the outcome
    stays unknown, and the retry finds the pulse rather than posting it again."""
    slack.fake.lose_answer("chat.postMessage", arrives=True)
    slack.fake.fail_next("conversations.history")
    await slack.service.open_round(await slack.service.team_named("Ward A"))
    assert await slack.service.deliver_outbox() == 11
    assert await statuses(slack) == {DeliveryStatus.SENT: 11, DeliveryStatus.UNCHECKED: 1}
    clock.now += timedelta(hours=1)
    assert await slack.service.deliver_outbox() == 1
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
    assert len(slack.fake.called("chat.postMessage")) == 12
    assert await statuses(slack) == {DeliveryStatus.SENT: 12}


async def test_a_reminder_is_threaded_under_a_pulse_found_after_the_crash(
    slack: Slack, clock: FixedClock
) -> None:
    """The pulses found by the restart's read-back (never recorded by the dead process) keep
    their ``ts``: the day-before reminder replies in their thread, not as a new message."""
    in_flight = await crash_mid_send(slack, clock, arrived=True)
    assert await slack.service.deliver_outbox() == in_flight
    async with slack.service.db.session() as session:
        [pulse_round] = (await session.exec(select(PulseRound))).all()
    clock.now = datetime.combine(pulse_round.closes_on - timedelta(days=1), time(10), UTC)
    assert await slack.service.send_reminders() == 12
    for channel in WARD_A:
        [pulse] = slack.fake.pulses(channel)
        replies = [m for m in slack.fake.messages[channel] if m.get("thread_ts")]
        assert [m["thread_ts"] for m in replies] == [pulse["ts"]]


async def test_a_send_that_outlasts_half_its_lease_is_left_unknown_and_found_later(
    slack: Slack, clock: FixedClock
) -> None:
    """Slack takes the post but does not answer: after half the lease (here 4 of 8 seconds) the
    send is abandoned, before the lease could run out and let another replica send it again;
    the row is unchecked, and its retry finds the pulse in the DM."""
    service = slack.service
    service.settings = service.settings.model_copy(update={"outbox_lease_seconds": 8})
    slack.fake.lose_answer("chat.postMessage", arrives=True, hang=True)
    await service.open_round(await service.team_named("Ward A"))
    assert await service.deliver_outbox() == 11
    assert await statuses(slack) == {DeliveryStatus.SENT: 11, DeliveryStatus.UNCHECKED: 1}
    slack.fake.release_lost()
    clock.now += timedelta(hours=1)
    assert await service.deliver_outbox() == 1
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
    assert len(slack.fake.called("chat.postMessage")) == 12


async def test_a_pulse_claimed_behind_hung_sends_is_claimed_afresh_not_left_unknown(
    slack: Slack,
) -> None:
    """Two sends at a time, more rows claimed ahead of them.  The first post hangs, and so does
    the third, so the row claimed beside the third waits its turn until the first is abandoned
    at half its lease (3 of 6 seconds), by when that row has used its share of its own lease
    too; Slack now answers each post after 0.3 s.  That row was never sent: it is given back and
    claimed afresh, not started with no time left and abandoned as unknown.  Only the two hung
    sends wait to be checked."""
    service = slack.service
    service.settings = service.settings.model_copy(update={"outbox_lease_seconds": 6})
    slack.fake.lose_answer("chat.postMessage", arrives=True, hang=True)
    await service.open_round(await service.team_named("Ward A"))
    drain = asyncio.ensure_future(service.deliver_outbox(width=2))
    await slack.fake.wait_for("chat.postMessage", count=2)  # the first hangs, the second is done
    slack.fake.lose_answer("chat.postMessage", arrives=True, hang=True)
    slack.fake.slow_down("chat.postMessage", 0.3)
    assert await drain == 10
    assert await statuses(slack) == {DeliveryStatus.SENT: 10, DeliveryStatus.UNCHECKED: 2}
    assert len(slack.fake.called("chat.postMessage")) == 12
    assert pulses_per_person(slack) == dict.fromkeys(WARD_A, 1)
