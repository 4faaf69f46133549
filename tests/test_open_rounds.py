"""The scheduler opens every due team's round at once, several per transaction: everyone due gets
one pulse, once, in one round per team; a manager's ``pulse send`` racing the tick (between its
reading which teams are due and its opening them, or in another replica's transaction at the
same moment) still leaves one round per team."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, time

from sqlalchemy import text
from sqlmodel import col, select

from bot.conversation import Conversation
from bot.pulse_rounds import OPEN_BATCH
from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from storage.models import Delivery, Membership, PulseRound, Role, Team
from surveys import opening
from surveys.directory import TeamRef
from surveys.organisation import spec_from_yaml
from surveys.rollup import week_of
from tests.slack_support import until
from tests.support import FixedClock, email, make_service

WARDS = OPEN_BATCH + 5  # more than one transaction's worth
MONDAY = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # each team's pulse: Mondays at 10:00


def trust_yaml() -> str:
    lines = ["name: Big Trust", "teams:"]
    for n in range(WARDS):
        members = ", ".join(email(f"w{n}p{i}") for i in range(3))
        lines += [
            f"  - name: Ward {n:02d}",
            f"    managers: [{email(f'manager.w{n}')}]",
            f"    members: [{members}]",
        ]
    return "\n".join(lines) + "\n"


async def a_big_trust(db: Database, settings: Settings) -> tuple[TeamPulse, FixedClock]:
    """The test organisation and a trust of ``WARDS`` wards, all set up the day before."""
    clock = FixedClock(MONDAY)
    service, _ = await make_service(db, settings, clock)
    await service.import_organisation(spec_from_yaml(trust_yaml()))
    async with db.session() as session:
        for team in (await session.exec(select(Team))).all():
            team.created_at = datetime.combine(date(2026, 11, 22), time(), tzinfo=UTC)
            session.add(team)
        await session.commit()
    return service, clock


async def rounds_by_team(db: Database) -> dict[str, list[PulseRound]]:
    async with db.session() as session:
        query = select(Team.name, PulseRound).join(
            PulseRound, col(PulseRound.team_id) == col(Team.id)
        )
        found: dict[str, list[PulseRound]] = {}
        for name, pulse_round in (await session.exec(query)).all():
            found.setdefault(name, []).append(pulse_round)
        return found


async def outbox_rows(db: Database) -> Counter[tuple[int, int]]:
    """How many outbox rows each (round, person) has."""
    async with db.session() as session:
        rows = (await session.exec(select(Delivery.round_id, Delivery.person_id))).all()
    return Counter(rows)


async def members_by_round(db: Database) -> set[tuple[int, int]]:
    """Every (round, member of its team) pair."""
    async with db.session() as session:
        query = (
            select(PulseRound.id, Membership.person_id)
            .join(Membership, col(Membership.team_id) == col(PulseRound.team_id))
            .where(Membership.role == Role.MEMBER)
        )
        return {(r, p) for r, p in (await session.exec(query)).all() if r is not None}


async def say(service: TeamPulse, who: str, words: str) -> str:
    [view] = await Conversation(service).handle(email(who), words)
    return str(getattr(view, "text", ""))


async def test_the_tick_opens_every_due_team_once_and_everyone_gets_one_pulse(
    db: Database, settings: Settings
) -> None:
    service, clock = await a_big_trust(db, settings)
    scheduler = PulseScheduler(service)
    await scheduler.tick()

    opened = await rounds_by_team(db)
    wards = {f"Ward {n:02d}" for n in range(WARDS)} | {"Ward A", "Ward B", "Tiny"}
    assert set(opened) == wards  # Medicine has no members: no round
    assert all(len(found) == 1 and found[0].sequence == 1 for found in opened.values())
    assert {r.report_week for found in opened.values() for r in found} == {week_of(MONDAY.date())}
    rows = await outbox_rows(db)
    assert set(rows) == await members_by_round(db) and set(rows.values()) == {1}

    clock.now = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)  # after the first hour's spread
    assert await service.deliver_outbox() == len(rows)
    for n in range(WARDS):
        for i in range(3):
            cards = await service.pending_pulses(email(f"w{n}p{i}"))
            assert [card.team for card in cards] == [f"Ward {n:02d}"]

    await scheduler.tick()  # the rounds are open: nothing more
    assert await rounds_by_team(db) == opened and await outbox_rows(db) == rows


async def test_a_pulse_send_after_the_tick_read_the_due_teams_wins(
    db: Database, settings: Settings
) -> None:
    """Between the tick's reading which teams are due and its opening them, Ward B's manager
    sends a pulse, and an operator sends Ward A's and closes it again: the tick opens neither a
    second time (each transaction reads again whether its teams are still due)."""
    service, _ = await a_big_trust(db, settings)
    scheduler = PulseScheduler(service)
    due = [TeamRef.of(team) for team in await scheduler.due_teams()]
    assert {"Ward A", "Ward B"} <= {ref.name for ref in due}
    assert "Opened pulse #1 for Ward B" in await say(service, "manager.b", "pulse send")
    ward_a = next(ref for ref in due if ref.name == "Ward A")
    assert "Opened pulse #1 for Ward A" in await service.open_round(ward_a)
    assert "Closed pulse #1 for Ward A" in await service.close_round(ward_a)

    assert await service.open_rounds(due, scheduled=True, due=scheduler.still_due()) == len(due) - 2
    opened = await rounds_by_team(db)
    assert [(r.sequence, r.closed) for r in opened["Ward A"]] == [(1, True)]
    assert [(r.sequence, r.closed) for r in opened["Ward B"]] == [(1, False)]
    assert all(len(found) == 1 for found in opened.values())
    rows = await outbox_rows(db)
    assert set(rows) == await members_by_round(db) and set(rows.values()) == {1}


async def waits_on_a_lock(db: Database) -> bool:
    """Whether a session of this database waits for another's lock (PostgreSQL); on SQLite,
    the batch can't have got further than waiting for the one writer."""
    if not db.url.startswith("postgresql"):
        return True
    async with db.engine.connect() as connection:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        return bool((await connection.execute(text(query))).scalar_one())


async def test_a_round_opened_by_another_replica_meanwhile_costs_only_its_team(
    db: Database, settings: Settings
) -> None:
    """Another replica opens Ward B's round (a manager's ``pulse send``) in a transaction still
    running while the tick's batch opens Ward B's among others: the batch waits for it and
    then, its round taken (the unique (team, sequence) key), opens its teams one at a time.
    Ward B ends with that one round, and every other team due with its own."""
    service, clock = await a_big_trust(db, settings)
    scheduler = PulseScheduler(service)
    due = [TeamRef.of(team) for team in await scheduler.due_teams()]
    ward_b = next(ref for ref in due if ref.name == "Ward B")
    async with db.session() as elsewhere:
        team = await elsewhere.get(Team, ward_b.id)
        assert team is not None
        timing = opening.Timing(clock(), settings.timezone)
        [theirs] = await opening.open_rounds(elsewhere, [team], MONDAY.date(), 5, timing)
        assert isinstance(theirs, opening.OpenedRound)
        batch = asyncio.ensure_future(
            service.open_rounds(due, scheduled=True, due=scheduler.still_due())
        )
        await until(lambda: waits_on_a_lock(db))
        assert not batch.done()
        await elsewhere.commit()
    assert await batch == len(due) - 1

    opened = await rounds_by_team(db)
    assert [r.id for r in opened["Ward B"]] == [theirs.round.id]
    assert all(len(found) == 1 for found in opened.values()) and len(opened) == len(due)
    rows = await outbox_rows(db)
    assert set(rows) == await members_by_round(db) and set(rows.values()) == {1}
