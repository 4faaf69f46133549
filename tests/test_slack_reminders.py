"""Slack reminders: the day before a pulse closes, those who have not answered get a reply in the
thread of the pulse message they were sent (not a new message), and those who answered get none."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlmodel import select

from storage.models import PulseRound
from tests.slack_support import Slack, texts, uid
from tests.support import FixedClock, email


async def test_reminders_reply_in_the_pulse_thread_and_skip_those_who_answered(
    slack: Slack,
) -> None:
    fake, service = slack.fake, slack.service
    clock = FixedClock()
    service.clock = clock
    await service.open_round(await service.team_named("Ward B"))
    assert await service.deliver_outbox() == 6
    pulse_ts = {
        f"b{i}": fake.called("chat.postMessage", channel=f"D{uid(f'b{i}')}")[0].answer["ts"]
        for i in range(6)
    }
    assert len(set(pulse_ts.values())) == 6

    answered = ["b0", "b1"]
    for name in answered:
        [card] = await service.pending_pulses(email(name))
        await service.submit_pulse(email(name), card.round_id, {q.id: 4 for q in card.questions})

    async with service.db.session() as session:
        [pulse_round] = (await session.exec(select(PulseRound))).all()
    assert await service.send_reminders() == 0  # not yet: it closes in more than a day
    clock.now = datetime.combine(pulse_round.closes_on - timedelta(days=1), time(10), UTC)
    assert await service.send_reminders() == 4

    posts = fake.called("chat.postMessage")
    reminders = [call for call in posts if call.params.get("thread_ts")]
    assert len(reminders) == 4 and len(posts) == 6 + 4
    for name in ("b2", "b3", "b4", "b5"):
        [reminder] = [c for c in reminders if c.params["channel"] == f"D{uid(name)}"]
        assert reminder.params["thread_ts"] == pulse_ts[name]
        shown = texts(reminder.params["blocks"]) + reminder.params["text"]
        assert "Reminder" in shown and "closes" in shown
    for name in answered:
        mine = [c for c in posts if c.params["channel"] == f"D{uid(name)}"]
        assert [c.params.get("thread_ts") for c in mine] == [None]  # the pulse only
    # once only: the round is marked reminded
    assert await service.send_reminders() == 0
    assert len(fake.called("chat.postMessage")) == 10
