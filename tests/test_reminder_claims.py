"""Claiming reminders costs the same however many were sent before.

A round's reminder rows stay in the table once claimed (marked done), so a trust gathers
thousands a week.  With statistics from when its rows were queued, PostgreSQL's claim read past
every one of them to reach the rows still waiting (part of the half a billion tuples a trust's
Monday read sending 9,000 reminders: docs/performance.md).  The test asks the database how much
it read for the same claim twice: among thousands of rows done before it and waiting after it,
and with its own rows alone in the table.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.dialects import sqlite
from sqlmodel import col, select

from storage.engine import Database, is_sqlite
from storage.models import Person, PulseRound, Reminder, Team
from surveys import outbox
from tests.support import import_org

DONE = 6_000  # reminders already claimed
WAITING = 1_000  # still to claim (queued, as a round's reminders are, all at once)
CLAIM = 32  # one claim's rows


async def reminders_behind_done_ones(db: Database) -> None:
    """``DONE`` reminder rows already claimed, then ``WAITING`` still to claim: the test trust's
    people in enough rounds of Ward A to hold them.  PostgreSQL's statistics are those of the
    moment they were queued (all waiting), as on a Monday whose claims run before autovacuum
    looks again; SQLite has none (teampulse never runs ``ANALYZE`` there)."""
    async with db.session() as session:
        people = list((await session.exec(select(Person.id).order_by(col(Person.id)))).all())
        team_id = (await session.exec(select(Team.id).where(Team.name == "Ward A"))).one()
        rounds_needed = (DONE + WAITING) // len(people) + 1
        monday = date(2026, 11, 23)
        connection = await session.connection()
        await connection.execute(
            insert(PulseRound),
            [
                {
                    "team_id": team_id,
                    "sequence": n,
                    "opened_on": monday,
                    "closes_on": monday,
                    "plan": "[]",  # (a claim reads no question)
                }
                for n in range(1, rounds_needed + 1)
            ],
        )
        round_ids = (await session.exec(select(PulseRound.id).order_by(col(PulseRound.id)))).all()
        rows = [{"round_id": r, "person_id": p} for r in round_ids for p in people]
        await connection.execute(insert(Reminder), rows[: DONE + WAITING])
        await session.commit()
    if not is_sqlite(str(db.engine.url)):  # autovacuum's statistics after the queueing: all waiting
        async with db.session() as session:
            connection = await session.connection()
            await connection.exec_driver_sql("ANALYZE reminder")
            await session.commit()
    async with db.session() as session:  # then claimed, a few at a time, with no ANALYZE since
        connection = await session.connection()
        first_waiting = (
            await session.exec(select(Reminder.id).order_by(col(Reminder.id)).offset(DONE))
        ).first()
        await connection.execute(
            update(Reminder).where(col(Reminder.id) < first_waiting).values(done=True)
        )
        await session.commit()


async def rows_read(db: Database, url: str) -> int:
    """How much the database did for one claim: SQLite's virtual machine steps (counted in
    thousands), PostgreSQL's rows read from ``reminder`` by its plan (kept or filtered out)."""
    if is_sqlite(url):
        return _sqlite_steps(url.split("///", 1)[1])
    async with db.session() as session:
        connection = await session.connection()
        compiled = outbox.claimable_reminders(CLAIM).compile(dialect=connection.dialect)
        values = compiled.construct_params()
        arguments = tuple(values[name] for name in compiled.positiontup or ())
        found = await connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", arguments
        )
        [[plan]] = found.all()
        await session.rollback()
    top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return _reminder_rows(top)


def _reminder_rows(node: dict[str, Any]) -> int:
    own = 0
    if node.get("Relation Name") == "reminder":
        own = sum(
            int(node.get(key, 0))
            for key in ("Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck")
        )
    return own + sum(_reminder_rows(child) for child in node.get("Plans", []))


def _sqlite_steps(path: str) -> int:
    statement = outbox.claimable_reminders(CLAIM).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    connection = sqlite3.connect(path)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    try:
        connection.set_progress_handler(count, 1_000)
        claimed = connection.execute(str(statement)).fetchall()
    finally:
        connection.close()
    assert len(claimed) == CLAIM
    return steps


async def test_a_claim_reads_its_own_rows_not_those_done_before_or_waiting_after(
    db: Database, database_url: str
) -> None:
    await import_org(db)
    await reminders_behind_done_ones(db)
    among_thousands = await rows_read(db, database_url)
    async with db.session() as session:  # the claim's own rows alone
        first = list((await session.exec(outbox.claimable_reminders(CLAIM))).all())
        await session.exec(delete(Reminder).where(col(Reminder.id).not_in([r.id for r in first])))  # type: ignore[call-overload]
        await session.commit()
    alone = await rows_read(db, database_url)
    assert among_thousands <= 2 * alone + 5, (among_thousands, alone)
    # and the claim takes the waiting rows oldest first, each once
    async with db.session() as session:
        claimed = await outbox.claim_reminders(session, CLAIM)
        await session.commit()
        again = await outbox.claim_reminders(session, CLAIM)
    assert [job.row_id for job in claimed] == [row.id for row in first] and again == []
