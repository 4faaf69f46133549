"""People whose answers were pending in a process that stopped or crashed (or lost its claims)
may answer that round once more (surveys/participation.py): such repeated answers must never
make a team count more people than answered, nor publish for fewer than k people.  And a stop
never writes an open round's digests, and a closing batch of fewer than k is written only when it
is the whole round, so a later answer is never alone in a flush."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from storage.models import Person, RollupCell, RollupWeek, Team
from surveys.anonymity import participation_digest
from tests.support import FixedClock, after_the_week, email, make_service
from tests.test_participation_ledger import POSTGRESQL, answer, second_process, written


async def published_people(db: Database, team_name: str) -> tuple[list[int], list[int]]:
    """The team's cut respondents (participation) and the respondents of its published cells."""
    async with db.session() as session:
        team = (await session.exec(select(Team).where(Team.name == team_name))).one()
        weeks = (await session.exec(select(RollupWeek).where(RollupWeek.team_id == team.id))).all()
        cells = (
            await session.exec(
                select(RollupCell).where(
                    RollupCell.team_id == team.id, col(RollupCell.published).is_(True)
                )
            )
        ).all()
    assert weeks, "the week was cut"
    return [w.respondents for w in weeks], [c.respondents for c in cells]


async def person_id(db: Database, name: str) -> int:
    async with db.session() as session:
        found = (await session.exec(select(Person).where(Person.email == email(name)))).one()
    assert found.id is not None
    return found.id


@pytest.mark.parametrize("stop", ["graceful", "crash"])
async def test_people_answering_again_after_a_restart_never_count_twice(
    db: Database, settings: Settings, stop: str
) -> None:
    """Ward B (6 people): b0-b2 answer, the process stops (or crashes) while the round is open,
    and they answer again on the next one: the report must not show 6 people, nor publish."""
    clock = FixedClock()
    if stop == "graceful":
        first, messenger = await make_service(db, settings, clock)
        await first.open_round(await first.team_named("Ward B"))
        await answer(first, "b0", "b1", "b2")
        await first.close()
    else:
        setup, messenger = await make_service(db, settings, clock)
        await setup.open_round(await setup.team_named("Ward B"))
        first, first_db = second_process(db, settings)
        await answer(first, "b0", "b1", "b2")
        await first_db.dispose()  # gone without a word: nothing written, nothing given back
    restarted = TeamPulse(Database(db.url), settings, messenger, clock=clock)
    round_id = await answer(restarted, "b0", "b1", "b2")  # the honest bound: they can
    await after_the_week(restarted, clock)
    # the restarted process's closing batch (3 people, not the whole round of 6 cards) is never
    # written: it would pair its 3 answers with its 3 digests
    assert await written(db, round_id) == set()
    people, cells = await published_people(db, "Ward B")
    assert all(count <= 3 for count in people), people  # 3 people answered, never 6
    assert cells == []  # fewer than k people: no score is shown
    await restarted.db.dispose()


async def test_a_stop_never_writes_an_open_rounds_digests(db: Database, settings: Settings) -> None:
    """a0-a4 answer, the process stops, a7 answers on the next one and the round closes: had the
    stop written a0-a4, the closing flush would hold a7 alone, right after a7's answer."""
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward A"))
    round_id = await answer(service, *(f"a{i}" for i in range(5)))
    await service.close()
    at_stop = await written(db, round_id)
    assert at_stop == set()
    restarted = TeamPulse(Database(db.url), settings, messenger, clock=clock)
    await answer(restarted, "a7")
    after_answer = await written(db, round_id)
    await restarted.close_round(await restarted.team_named("Ward A"))
    final = await written(db, round_id)
    # a7's closing batch, alone and not the whole round (6 cards), is never written: nothing
    # written after a7's answer pairs it with anyone
    assert after_answer == final == set()
    a7 = participation_digest(restarted.secret, round_id, await person_id(db, "a7"))
    assert a7 not in final
    await restarted.db.dispose()


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_a_dropped_claims_connection_never_counts_a_person_twice(
    db: Database, settings: Settings
) -> None:
    """a0's answer is pending on one process when its claims connection is terminated: another
    process then accepts a0 again.  5 people answered: the report must not count 6."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward A"))
    round_id = await answer(service, "a0")
    async with db.engine.connect() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() "
                # (pg_locks lists every database's locks: only this one's sessions)
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    other, other_db = second_process(db, settings)
    await answer(other, "a0", "a1", "a2", "a3", "a4")  # a0 a second time
    await service.close_round(await service.team_named("Ward A"))
    await other.participants.flush_closed()
    assert len(await written(db, round_id)) == 5
    await after_the_week(service, clock)
    people, cells = await published_people(db, "Ward A")
    assert all(count <= 5 for count in people), people
    assert all(count <= 5 for count in cells), cells
    await other_db.dispose()


async def test_a_week_waits_for_live_processes_to_give_back_their_reservations(
    db: Database, settings: Settings
) -> None:
    """Two processes take answers of one round; it closes on the Monday its week is over, in
    one of them.  The other gives its reservation back at its next check: until the day after
    the close, the week waits for it rather than count those answers as lost."""
    weekly = settings.model_copy(update={"round_days": 7})
    clock = FixedClock()
    service, _ = await make_service(db, weekly, clock)
    other, other_db = second_process(db, weekly)
    await service.open_round(await service.team_named("Ward A"))
    await answer(service, "a0", "a1", "a2")
    await answer(other, "a3", "a4", "a5")
    await after_the_week(service, clock)  # Monday: the round closes here, and the week is over
    async with db.session() as session:
        assert (await session.exec(select(RollupWeek))).all() == []  # waits for the other
    await other.participants.flush_closed()  # its periodic check
    clock.now += timedelta(days=1)
    await service.cut_due_weeks()
    people, cells = await published_people(db, "Ward A")
    assert people == [6] and cells and all(count == 6 for count in cells)
    await other_db.dispose()
