"""A process reserves on a round's ``unsure`` count every digest it could hold pending for the
round once a batch commits (surveys/participation.py), so that people who answer again after it
crashed are never counted as more people than answered.  ``2k`` covers a process whose flushes
succeed and whose batches hold one card of the round; a ward answering at once, or threshold
flushes that keep failing, hold more, and the reservation is topped up first.

The attack: the process crashes while it holds more pending digests than ``2k``; every one of
those people answers again on the next process; the week is cut.  The report must not show more
people than answered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database, is_sqlite
from surveys.participation import Ledger
from tests.support import FixedClock, after_the_week, make_service
from tests.test_participation_ledger import answer, second_process, written
from tests.test_repeated_answers import published_people

WARD_A = [f"a{i}" for i in range(12)]  # k = 5: more than 2k = 10


async def refuse_digest_writes(db: Database) -> None:
    """The database refuses every write of who answered (a flush), and takes the rest: the
    answers, and the reservations on ``unsure``."""
    if is_sqlite(db.url):
        statement = (
            "CREATE TRIGGER refuse_digests BEFORE UPDATE OF digests ON participation "
            "WHEN NEW.digests IS NOT OLD.digests BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        async with db.engine.begin() as connection:
            await connection.execute(text(statement))
        return
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION refuse_digests() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE TRIGGER refuse_digests BEFORE UPDATE OF digests ON participation "
                "FOR EACH ROW WHEN (NEW.digests IS DISTINCT FROM OLD.digests) "
                "EXECUTE FUNCTION refuse_digests()"
            )
        )


async def accept_digest_writes(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(
            text("DROP TRIGGER refuse_digests" + ("" if is_sqlite(db.url) else " ON participation"))
        )


@pytest.fixture
async def crashed(db: Database, settings: Settings) -> AsyncIterator[tuple[TeamPulse, int]]:
    """Ward A's 12 people answered on a process whose flushes were all refused; it then crashed
    (its engine gone without a word: nothing flushed, nothing given back).  Yields the next
    process, the database accepting flushes again, and the round."""
    setup, messenger = await make_service(db, settings)
    await setup.open_round(await setup.team_named("Ward A"))
    first, first_db = second_process(db, settings, messenger)
    await refuse_digest_writes(db)
    round_id = await answer(first, *WARD_A)
    await first_db.dispose()
    await accept_digest_writes(db)
    restarted, restarted_db = second_process(db, settings, messenger)
    yield restarted, round_id
    await restarted_db.dispose()


async def test_people_pending_past_the_first_reservation_never_count_twice(
    db: Database, crashed: tuple[TeamPulse, int]
) -> None:
    restarted, round_id = crashed
    assert await written(db, round_id) == set()  # the crash wrote no one
    await answer(restarted, *WARD_A)  # all 12 again: the honest bound, more than 2k of them
    clock = restarted.clock
    assert isinstance(clock, FixedClock)
    await after_the_week(restarted, clock)
    assert len(await written(db, round_id)) == 12
    people, cells = await published_people(db, "Ward A")
    assert people and all(count <= 12 for count in people), people  # 12 answered, never 24
    assert all(count <= 12 for count in cells), cells


async def test_a_top_up_is_given_back_at_the_close(db: Database, settings: Settings) -> None:
    """Flushes refused while 11 answered (the reservation topped up past ``2k``), then accepted:
    the round ends with exactly its 12 people counted, nothing left reserved by a process that
    is still alive."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward A"))
    await refuse_digest_writes(db)
    round_id = await answer(service, *WARD_A[:11])
    await accept_digest_writes(db)
    await answer(service, WARD_A[11])  # the threshold flush goes through now
    assert len(await written(db, round_id)) == 12 - settings.min_group
    await after_the_week(service, clock)
    people, cells = await published_people(db, "Ward A")
    assert people == [12] and cells and all(count == 12 for count in cells)


@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=40), st.booleans()), min_size=1, max_size=30
    )
)
def test_a_reservation_always_covers_what_the_process_holds(
    batches: list[tuple[int, bool]],
) -> None:
    """Any run of batches (of any size) and threshold flushes (each going through or refused):
    after every batch commits, this process's reservation is at least what it holds pending, so
    a crash at that moment is covered; and the close gives back exactly what was reserved."""
    ledger = Ledger(5)
    on_unsure = 0
    for number, (size, flush_goes_through) in enumerate(batches):
        added = ledger.shortfall([1] * size)
        ledger.reserved(added)
        on_unsure += sum(added.values())
        keys = [(1, f"{number}.{i}") for i in range(size)]
        ledger.reserve(keys)
        ledger.settle(keys, committed=True)
        assert on_unsure == ledger.reservation(1) >= len(ledger.pending(1))
        if flush_goes_through:
            ledger.flushed(ledger.due())
    on_unsure -= sum(ledger.give_back({1}, closed={1}).values())
    assert on_unsure == 0
