"""Slack reminders: the day before a pulse closes, those who have not answered get a reply in the
thread of the pulse message they were sent (not a new message), and those who answered get none;
a new round's pulses don't wait behind a big round's reminders."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import event, insert, update
from sqlmodel import col, select

from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from storage.models import (
    ConversationReference,
    Delivery,
    Membership,
    Person,
    PlatformIdentity,
    PulseRound,
    Team,
)
from surveys.organisation import spec_from_yaml
from tests.fake_slack import FakeSlack
from tests.slack_support import Slack, texts, uid
from tests.support import FixedClock, answers_for, email


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


def replies(fake: FakeSlack) -> list[str]:
    """The channels of the thread replies (reminders) Slack answered."""
    return [
        c.params["channel"] for c in fake.called("chat.postMessage") if c.params.get("thread_ts")
    ]


def sent_reminders(service: TeamPulse) -> float | None:
    """The operator's count of reminders sent (``/metrics``)."""
    return service.metrics.registry.get_sample_value("teampulse_reminders_total")


async def test_reminders_held_by_slack_do_not_hold_the_next_tick(slack: Slack) -> None:
    """While Slack holds the reminders, the scheduler's next tick still closes a round that is
    due and opens a scheduled one; once Slack answers, everyone who has not answered has their
    reminder, once."""
    fake, service, db = slack.fake, slack.service, slack.service.db
    clock = FixedClock()  # Monday 23 November, 10:00
    service.clock = clock
    for ward in ("Ward A", "Ward B"):  # both close on Saturday 28
        await service.open_round(await service.team_named(ward))
    await service.deliver_outbox()
    for name in ("a0", "a1", "a2", "b0", "b1"):
        [card] = await service.pending_pulses(email(name))
        await service.submit_pulse(email(name), card.round_id, answers_for(card))
    friday = date(2026, 11, 27)
    async with db.session() as session:  # Tiny: set up this morning, its pulse on Fridays at 10:30
        [tiny] = (await session.exec(select(Team).where(Team.name == "Tiny"))).all()
        tiny.schedule_day, tiny.schedule_time = "fri", "10:30"
        tiny.created_at = datetime.combine(friday, time(9), UTC)
        session.add(tiny)
        await session.commit()

    fake.hold_replies()
    scheduler = PulseScheduler(service)
    clock.now = datetime.combine(friday, time(10), UTC)  # the rounds close tomorrow
    await scheduler.tick()
    await fake.wait_until(lambda: fake.replies_held == 9 + 4)
    async with db.session() as session:  # Ward B's round is made due today
        ward_b = await service.team_named("Ward B")
        [pulse_round] = (
            await session.exec(select(PulseRound).where(PulseRound.team_id == ward_b.id))
        ).all()
        pulse_round.closes_on = friday
        session.add(pulse_round)
        await session.commit()
    clock.now = datetime.combine(friday, time(10, 31), UTC)
    await scheduler.tick()

    async with db.session() as session:
        found = (
            await session.exec(
                select(Team.name, PulseRound.closed).join(
                    PulseRound, col(PulseRound.team_id) == col(Team.id)
                )
            )
        ).all()
    assert sorted(found) == [("Tiny", False), ("Ward A", False), ("Ward B", True)]
    assert replies(fake) == []  # still held

    fake.release_replies()
    await scheduler.reminded()
    reminded = [f"a{i}" for i in range(3, 12)] + [f"b{i}" for i in range(2, 6)]
    assert sorted(replies(fake)) == sorted(f"D{uid(name)}" for name in reminded)
    # each answered by Slack (none given up on while the ticks ran)
    assert sent_reminders(service) == len(reminded)
    await scheduler.tick()
    await scheduler.reminded()
    assert len(replies(fake)) == len(reminded)


async def test_stopping_the_scheduler_stops_its_reminding(slack: Slack) -> None:
    """A server shutting down while Slack holds its reminders stops at once (the reminders in
    flight are lost, as in a crash: never sent twice)."""
    fake, service = slack.fake, slack.service
    clock = FixedClock()
    service.clock = clock
    await service.open_round(await service.team_named("Ward B"))
    await service.deliver_outbox()
    fake.hold_replies()
    scheduler = PulseScheduler(service)
    clock.now = datetime(2026, 11, 27, 10, tzinfo=UTC)
    await scheduler.tick()
    await fake.wait_until(lambda: fake.replies_held == 6)
    await scheduler.stop()
    assert replies(fake) == []
    fake.release_replies()  # Slack acts on the six it was holding
    await fake.wait_until(lambda: len(replies(fake)) == 6)
    await scheduler.tick()  # they were claimed: none is sent again
    await scheduler.reminded()
    assert sorted(replies(fake)) == sorted(f"D{uid(f'b{i}')}" for i in range(6))


BIG = 2_000  # people in the big ward: its round's reminders


async def a_big_ward_reached_on_monday(service: TeamPulse) -> None:
    """A ward of ``BIG`` people whose round opened on Monday 23 November and reached everyone
    (their Slack accounts and DMs known, as after the pulse), so it closes on Saturday 28 and
    is reminded on Friday 27."""
    people = [email(f"big{i}") for i in range(BIG)]
    big = f"name: Big Trust\nteams:\n  - name: Big Ward\n    members: [{', '.join(people)}]\n"
    await service.import_organisation(spec_from_yaml(big))
    await service.open_round(await service.team_named("Big Ward", "Big Trust"))
    async with service.db.session() as session:
        [(round_id, team_id)] = (
            await session.exec(
                select(PulseRound.id, PulseRound.team_id)
                .join(Team, col(Team.id) == col(PulseRound.team_id))
                .where(Team.name == "Big Ward")
            )
        ).all()
        await session.exec(
            update(Delivery).where(col(Delivery.round_id) == round_id).values(status="sent")
        )
        members = await session.exec(
            select(Person.id, Person.email)
            .join(Membership, col(Membership.person_id) == col(Person.id))
            .where(Membership.team_id == team_id)
        )
        accounts, references = [], []
        for person_id, address in members.all():
            user = uid(address.split("@")[0])
            accounts.append({"person_id": person_id, "platform": "slack", "external_id": user})
            reference = {"user": user, "channel": f"D{user}", "pulses": {str(round_id): "1.0"}}
            references.append(
                {
                    "person_id": person_id,
                    "platform": "slack",
                    "reference": json.dumps(reference),
                    "updated_at": datetime.now(UTC),
                }
            )
        connection = await session.connection()
        await connection.execute(insert(PlatformIdentity), accounts)
        await connection.execute(insert(ConversationReference), references)
        await session.commit()


async def test_a_round_opened_among_thousands_of_reminders_has_its_cards_sent_first(
    slack: Slack,
) -> None:
    """On Friday the big ward's 2,000 reminders are being sent (the reminding task and the
    outbox's sender both at it, Slack holding the replies in flight) when Ward B's manager sends
    a pulse: Ward B's cards go out as soon as those in flight are answered, before the rest of
    the reminders, which then carry on."""
    fake, service = slack.fake, slack.service
    clock = FixedClock()
    service.clock = clock
    await a_big_ward_reached_on_monday(service)
    clock.now = datetime(2026, 11, 27, 10, tzinfo=UTC)
    width = service.settings.outbox_concurrency
    fake.hold_replies()
    scheduler = PulseScheduler(service)
    await scheduler.start_sender()
    try:
        await scheduler.tick()
        await fake.wait_until(lambda: fake.replies_held == 2 * width)  # the task's and the sender's
        await service.open_round(await service.team_named("Ward B"))
        fake.release_replies()
        ward_b = {f"D{uid(f'b{i}')}" for i in range(6)}
        await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] in ward_b, count=6)
        await fake.wait_until(lambda: len(replies(fake)) > 2 * width)  # the reminders go on
    finally:
        await scheduler.stop()

    order = [
        "card" if c.params["channel"] in ward_b else "reminder"
        for c in fake.called("chat.postMessage")
    ]
    last_card = len(order) - order[::-1].index("card")
    assert order.count("card") == 6
    assert order[:last_card].count("reminder") <= 2 * width  # only those already in flight
    assert order[last_card:].count("reminder") > 0


async def test_a_big_rounds_reminders_are_claimed_many_at_a_time_when_slack_paces_them(
    slack: Slack,
) -> None:
    """Each claim of reminders is a transaction that also asks whether new cards are waiting and
    who has answered.  Slack answers a paced bot's sends one after another, and a claim for each
    slot as it came free cost a trust's Monday 430 million index entries read for 9,000
    reminders; a claim now waits for half the slots (``TEAMPULSE_OUTBOX_CONCURRENCY``)."""
    fake, service = slack.fake, slack.service
    clock = FixedClock()
    service.clock = clock
    await a_big_ward_reached_on_monday(service)
    clock.now = datetime(2026, 11, 27, 10, tzinfo=UTC)
    fake.answer_replies_in_turn()
    claims = 0

    def count(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        nonlocal claims
        claims += "FROM reminder" in statement and "LIMIT" in statement  # (the claim's read)

    engine = service.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        sent = await service.send_reminders()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sent == BIG == len(replies(fake))  # everyone, once
    half = service.settings.outbox_concurrency // 2
    assert claims <= BIG / half + 2, f"{claims} claims for {BIG} reminders"
