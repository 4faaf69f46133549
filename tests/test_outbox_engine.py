"""The outbox engine: claim, send with no transaction open, record each outcome on its own.

Core-only tests with a recording messenger (a platform that remembers the delivery keys it was
given, as one that carries them would); ``tests/test_outbox_wake.py`` drives the real server."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.outbox import LEASE, MAX_ATTEMPTS
from bot.ports import Recipient
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import PulseCard, Receipt, View
from storage.engine import Database
from storage.models import Delivery, DeliveryStatus, Person, PulseRound, Reminder, Team
from surveys import outbox as outbox_rows
from tests.conftest import BACKENDS
from tests.support import (
    FixedClock,
    RecordingMessenger,
    answers_for,
    email,
    import_org,
    make_service,
)

CROWD = 2000
POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]


def crowd_yaml(size: int) -> str:
    members = ", ".join(email(f"p{i}") for i in range(size))
    return f"""
name: Big Trust
teams:
  - name: Everyone
    managers: [{email("boss")}]
    members: [{members}]
"""


async def statuses(db: Database) -> Counter[str]:
    async with db.session() as session:
        return Counter(row.status for row in (await session.exec(select(Delivery))).all())


@dataclass
class HangingMessenger(RecordingMessenger):
    """Sends hang (as a network call with no answer would) once ``open`` sends have gone
    through, until ``release``; every other one arrives before it hangs, so half the hung sends
    reached the person and half did not.  ``all_hung`` is set once ``width`` sends hang."""

    open: int = 0
    width: int = 0
    hung: int = 0
    all_hung: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_direct(self, person: Recipient, view: View, *, key: str | None = None) -> None:
        if self.open > 0 or self.release.is_set():
            self.open -= 1
            await super().send_direct(person, view, key=key)
            return
        self.hung += 1
        if self.hung % 2:
            await super().send_direct(person, view, key=key)  # arrived; its answer never will
        if self.hung == self.width:
            self.all_hung.set()
        await self.release.wait()


@dataclass
class FlakyMessenger(RecordingMessenger):
    """A platform answering 5xx at random (seeded): the send fails before anything arrives."""

    dice: random.Random = field(default_factory=lambda: random.Random(11))
    failures: int = 0

    async def send_direct(self, person: Recipient, view: View, *, key: str | None = None) -> None:
        if self.dice.random() < 0.4:
            self.failures += 1
            raise ConnectionError("503 Service Unavailable")
        await super().send_direct(person, view, key=key)


async def test_two_processes_drain_one_outbox_of_2000_each_person_exactly_once(
    db: Database, settings: Settings
) -> None:
    await import_org(db, crowd_yaml(CROWD))
    first = TeamPulse(db, settings, RecordingMessenger(), clock=FixedClock())
    other_db = Database(db.url)
    try:
        second = TeamPulse(other_db, settings, RecordingMessenger(), clock=FixedClock())
        await first.open_round(await first.team_named("Everyone"))
        sent = await asyncio.gather(first.deliver_outbox(), second.deliver_outbox())
    finally:
        await other_db.dispose()
    assert sum(sent) == CROWD
    assert isinstance(first.messenger, RecordingMessenger)
    assert isinstance(second.messenger, RecordingMessenger)
    both = [to for to, _ in first.messenger.direct + second.messenger.direct]
    assert len(both) == CROWD and set(both) == {email(f"p{i}") for i in range(CROWD)}
    assert await statuses(db) == {DeliveryStatus.SENT: CROWD}


async def test_a_drain_cancelled_mid_send_sends_no_one_twice_and_loses_no_one(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    await import_org(db)
    platform = HangingMessenger(open=5, width=4)
    service = TeamPulse(db, settings, platform, clock=clock)
    await service.open_round(await service.team_named("Ward A"))  # 12 people
    drain = asyncio.ensure_future(service.deliver_outbox(width=4))
    await asyncio.wait_for(platform.all_hung.wait(), 30)
    drain.cancel()
    await asyncio.gather(drain, return_exceptions=True)
    # 5 recorded sent; 4 in flight (2 of them arrived); 3 never claimed
    assert await statuses(db) == {"sent": 5, "sending": 4, "pending": 3}
    assert len(platform.direct) == 7

    # a restart: the claims' leases run out, the platform is asked about the unknown ones
    clock.now += LEASE + timedelta(seconds=1)
    platform.release.set()
    restarted = TeamPulse(db, settings, platform, clock=clock)
    assert await restarted.deliver_outbox() == 7  # 2 found delivered + 5 sent now
    arrived = Counter(to for to, _ in platform.direct)
    assert arrived == {email(f"a{i}"): 1 for i in range(12)}
    assert await statuses(db) == {DeliveryStatus.SENT: 12}


async def test_an_error_building_one_card_touches_only_its_rows(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward A"))
    await service.open_round(await service.team_named("Ward B"))
    plan = await set_plan(db, "Ward B", "not json")  # its round can't be made into cards
    assert await service.deliver_outbox() == 12
    assert {to for to, _ in messenger.direct} == {email(f"a{i}") for i in range(12)}
    async with db.session() as session:
        rows = (await session.exec(select(Delivery))).all()
    failed = [row for row in rows if row.status != DeliveryStatus.SENT]
    assert len(failed) == 6
    assert all(row.status == DeliveryStatus.PENDING and row.attempts == 1 for row in failed)
    assert all((row.last_error or "").startswith("JSONDecodeError") for row in failed)

    await set_plan(db, "Ward B", plan)  # mended, its rows go at their next try
    assert await service.deliver_outbox() == 0  # not due yet
    clock.now += timedelta(minutes=2)
    assert await service.deliver_outbox() == 6
    assert len(messenger.direct) == 18


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_a_database_restart_between_sends_loses_no_one(
    db: Database, settings: Settings
) -> None:
    """Every connection the pool holds is cut (as a database restart cuts them) between two
    drains: the next drain still claims, sends and records everyone, once.  (There is no
    pre-ping: a connection is found dead when it is used, and the work is tried again.)"""
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward A"))
    await asyncio.gather(*(service.outbox_counts() for _ in range(4)))  # pooled connections
    admin = Database(db.url)
    try:
        async with admin.engine.connect() as connection:
            cut = await connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert cut.scalar_one() >= 1
    finally:
        await admin.dispose()
    assert await service.deliver_outbox() == 12
    assert Counter(to for to, _ in messenger.direct) == {email(f"a{i}"): 1 for i in range(12)}
    assert await statuses(db) == {DeliveryStatus.SENT: 12}


async def test_a_platform_failing_at_random_delivers_everyone_eventually(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    await import_org(db)
    platform = FlakyMessenger()
    service = TeamPulse(db, settings, platform, clock=clock)
    for team in ("Ward A", "Ward B", "Tiny"):
        await service.open_round(await service.team_named(team))
    for _ in range(MAX_ATTEMPTS):
        await service.deliver_outbox()
        clock.now += timedelta(hours=1)  # past the longest back-off
    assert platform.failures > 5
    assert Counter(to for to, _ in platform.direct) == {
        email(name): 1
        for name in [f"a{i}" for i in range(12)] + [f"b{i}" for i in range(6)] + ["t0", "t1", "t2"]
    }
    assert await statuses(db) == {DeliveryStatus.SENT: 21}


@dataclass
class SlowMessenger(RecordingMessenger):
    """A platform that takes its time: sends wait until ``release`` (``started`` once one has)."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    slow: bool = False

    async def send_direct(self, person: Recipient, view: View, *, key: str | None = None) -> None:
        if self.slow:
            self.started.set()
            await self.release.wait()
        await super().send_direct(person, view, key=key)


async def test_an_answer_is_not_blocked_by_a_send_in_flight(
    db: Database, settings: Settings
) -> None:
    await import_org(db)
    platform = SlowMessenger()
    service = TeamPulse(db, settings, platform, clock=FixedClock())
    await service.open_round(await service.team_named("Ward B"))
    assert await service.deliver_outbox() == 6
    platform.slow = True
    await service.open_round(await service.team_named("Ward A"))
    sending = asyncio.ensure_future(service.deliver_outbox())
    await asyncio.wait_for(platform.started.wait(), 30)

    [card] = await service.pending_pulses(email("b0"))
    reply = await service.submit_pulse(email("b0"), card.round_id, answers_for(card))
    assert isinstance(reply, Receipt)  # committed while the sends are still waiting
    assert not sending.done()
    assert await statuses(db) == {"sent": 6, "sending": 12}
    platform.release.set()
    assert await sending == 12


async def test_reminder_rows_are_the_same_for_who_answered_and_who_did_not(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward B"))
    await service.deliver_outbox()
    for i in range(4):
        [card] = await service.pending_pulses(email(f"b{i}"))
        await service.submit_pulse(email(f"b{i}"), card.round_id, answers_for(card))
    clock.now += timedelta(days=4)
    messenger.direct.clear()
    assert await service.send_reminders() == 2
    assert sorted(to for to, _ in messenger.direct) == [email("b4"), email("b5")]
    assert all(isinstance(v, PulseCard) and v.reminder for _, v in messenger.direct)
    async with db.session() as session:
        rows = (await session.exec(select(Reminder))).all()
    assert len(rows) == 6  # one per person the pulse reached, answered or not
    answered, waiting = await person_id(db, "b0"), await person_id(db, "b5")
    [answerer] = [row for row in rows if row.person_id == answered]
    [reminded] = [row for row in rows if row.person_id == waiting]
    alike = {"id", "person_id"}
    assert answerer.model_dump(exclude=alike) == reminded.model_dump(exclude=alike)
    assert {row.done for row in rows} == {True}
    assert await service.send_reminders() == 0  # never twice


async def test_two_replicas_queue_a_rounds_reminders_once(db: Database, settings: Settings) -> None:
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward B"))
    await service.deliver_outbox()
    clock.now += timedelta(days=4)
    other_db = Database(db.url)

    async def queue(database: Database) -> int:
        async with database.session() as session:
            queued = await outbox_rows.queue_reminders(session, service.today())
            await session.commit()
        return queued

    try:
        assert sorted(await asyncio.gather(queue(db), queue(other_db))) == [0, 6]
    finally:
        await other_db.dispose()
    async with db.session() as session:
        assert len((await session.exec(select(Reminder))).all()) == 6


async def person_id(db: Database, name: str) -> int:
    async with db.session() as session:
        person = (await session.exec(select(Person).where(Person.email == email(name)))).one()
    assert person.id is not None
    return person.id


async def set_plan(db: Database, team_name: str, plan: str) -> str:
    """Replace the question plan of the team's round; returns the plan it had."""
    async with db.session() as session:
        query = select(PulseRound).join(Team).where(Team.name == team_name)
        pulse_round = (await session.exec(query)).one()
        before, pulse_round.plan = pulse_round.plan, plan
        session.add(pulse_round)
        await session.commit()
    return before
