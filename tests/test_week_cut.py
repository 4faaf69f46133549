"""Cutting a week holds up no answer, and still cuts it once, from the inputs as they are.

A week's rows are computed in a session that only reads (on SQLite a snapshot, holding no lock),
then written in a short transaction that checks, under the week's lock, that the week is still due
and its inputs unchanged (``bot/pulse_rounds.cut_week``).  Answers to the rounds open meanwhile go
through at once.  On PostgreSQL even a cut done in one transaction (``rollup.rebuild_week``) holds
nothing an answer needs: the cut stamps the week's closed rounds and takes the week's advisory
lock; an answer share-locks its own open round.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import Receipt, TrendReportView, View
from storage.engine import Database
from storage.migrate import downgrade, upgrade
from surveys import rollup, rollup_rows
from surveys.organisation import spec_from_yaml
from tests.conftest import BACKENDS
from tests.databases import has_index, scratch_database
from tests.support import FixedClock, answers_for, email, make_service
from tests.test_published_weeks import MOVING, read, ward_a

WEEK = date(2026, 11, 23)
ANSWER_WAIT = 10.0  # seconds: a bound for a failing test, far above an answer's time


async def one_answer(service: TeamPulse, person: str) -> View:
    [card] = await service.pending_pulses(email(person))
    return await service.submit_pulse(email(person), card.round_id, answers_for(card, 4))


async def a_week_over_and_the_next_open(service: TeamPulse, clock: FixedClock) -> None:
    """Ward A's week of 23 November answered and closed, the clock at the next Monday (no tick
    yet: the week is due, not cut), and Ward B's pulse of the new week open."""
    await service.open_round(await service.team_named("Ward A"))
    for person in ward_a():
        await one_answer(service, person)
    await service.close_round(await service.team_named("Ward A"))
    clock.now = datetime.combine(WEEK + timedelta(days=7), time(9, 0), tzinfo=UTC)
    await service.open_round(await service.team_named("Ward B"))


async def test_computing_a_cut_holds_up_no_answer_and_the_week_is_cut_once(
    db: Database, settings: Settings
) -> None:
    """Two processes compute the week's cut; while the first still holds its reading session
    open, a Ward B nurse's answer is committed.  The first write cuts the week, the second finds
    it cut and writes nothing: the director sees Ward A's 12 people once."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await a_week_over_and_the_next_open(service, clock)
    today, thresholds = clock.now.date(), service.thresholds
    async with db.reading() as first, db.reading() as second:
        assert await rollup.due(first, WEEK, today)
        rows = await rollup_rows.compute_week(first, WEEK, thresholds)
        again = await rollup_rows.compute_week(second, WEEK, thresholds)
        receipt = await asyncio.wait_for(one_answer(service, "b0"), ANSWER_WAIT)
        assert isinstance(receipt, Receipt)
    for computed, cut in ((rows, True), (again, False)):
        async with db.session() as session:
            assert await rollup.write_if_unchanged(session, computed, today) is cut
            await session.commit()
    assert (await read(service, "director", "Medicine")).weeks == {WEEK: (12, 12)}
    assert await service.cut_due_weeks() == []


async def test_an_answer_is_not_held_up_by_a_cut_being_written(
    db: Database, settings: Settings
) -> None:
    """PostgreSQL: a cut's transaction, held open after it has written everything (one
    transaction, the longest a cut holds its locks), holds up no answer to an open round.
    SQLite has one writer at a time: there the answer waits for the write (which is short: the
    rows were computed before it began) and then goes through."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await a_week_over_and_the_next_open(service, clock)
    async with db.session() as cutting:
        assert await rollup.rebuild_week(cutting, WEEK, service.thresholds, clock.now.date())
        answering = asyncio.create_task(one_answer(service, "b0"))
        if db.url.startswith("postgresql"):
            assert isinstance(await asyncio.wait_for(answering, ANSWER_WAIT), Receipt)
        await cutting.commit()
    assert isinstance(await asyncio.wait_for(answering, ANSWER_WAIT), Receipt)
    assert (await read(service, "director", "Medicine")).weeks == {WEEK: (12, 12)}


async def test_a_cut_computed_before_a_reimport_is_not_written_and_is_computed_again(
    db: Database, settings: Settings
) -> None:
    """Ward S moves from Surgery to Medicine after its week's cut was computed and before it
    was written: those rows (the old hierarchy) are refused, and the cut that follows counts
    Ward S under Medicine, as the organisation stood when the week was cut."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Surgery")))
    ward_s = [f"s{i}" for i in range(10)]
    for team in ("Ward A", "Ward S"):
        await service.open_round(await service.team_named(team))
    for person in ward_a() + ward_s:
        await one_answer(service, person)
    for team in ("Ward A", "Ward S"):
        await service.close_round(await service.team_named(team))
    clock.now = datetime.combine(WEEK + timedelta(days=7), time(9, 0), tzinfo=UTC)
    async with db.reading() as reading:
        rows = await rollup_rows.compute_week(reading, WEEK, service.thresholds)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Medicine")))
    async with db.session() as session:
        assert await rollup.write_if_unchanged(session, rows, clock.now.date()) is None
        await session.commit()
    assert await service.cut_due_weeks() == [WEEK]
    assert (await read(service, "director", "Medicine")).weeks == {WEEK: (22, 22)}
    assert (await read(service, "surgeon", "Surgery")).weeks == {}


async def scope_of(service: TeamPulse, who: str) -> str:
    [view] = await Conversation(service).handle(email(who), "pulse trends")
    assert isinstance(view, TrendReportView), view
    return view.scope


async def test_a_reimport_that_moves_a_ward_shows_in_the_next_report_from_any_worker(
    db: Database, settings: Settings
) -> None:
    """Two workers (each its own engine and pool on the same database): one imports the
    organisation with Ward S moved to Medicine; the other's very next report for the director of
    Medicine counts it below, and the surgeon's no longer does."""
    service, _ = await make_service(db, settings)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Surgery")))
    other_db = Database(db.url)
    try:
        other = TeamPulse(other_db, settings, clock=FixedClock())
        assert await scope_of(other, "director") == "Medicine and the 3 teams below it"
        assert await scope_of(other, "surgeon") == "Surgery and the 2 teams below it"
        await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Medicine")))
        assert await scope_of(other, "director") == "Medicine and the 4 teams below it"
        assert await scope_of(other, "surgeon") == "Surgery and the 1 teams below it"
    finally:
        await other_db.dispose()


INDEX = "ix_pulse_round_counted_week"


async def sqlite_plan(url: str) -> str:
    """SQLite's plan for the cut's "is every round of the week closed?" query."""
    statement = rollup_rows.week_rounds(WEEK).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    db = Database(url)
    try:
        async with db.session() as session:
            connection = await session.connection()
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            return " ".join(str(row[-1]) for row in rows)
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migration_0012_indexes_the_week_a_round_counts_in_and_goes_down(
    backend: str, tmp_path: Path
) -> None:
    """The cut finds a week's rounds through the index (SQLite's plan names it), not by reading
    every round; 0012 goes down to 0011 without it and up again."""
    async with scratch_database(backend, tmp_path, alembic=True) as url:
        assert await has_index(url, INDEX)
        if backend == "sqlite":
            assert INDEX in await sqlite_plan(url)
        await downgrade(url, "0011")
        assert not await has_index(url, INDEX)
        assert await upgrade(url, "0012") == ["0012"]
        assert await has_index(url, INDEX)
