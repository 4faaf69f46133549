"""DESIGN.md invariant 1: no response row holds, or can be joined to, the person who gave it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import inspect, text

from bot.logs import configure_logging
from bot.settings import Settings
from storage.engine import Database
from surveys.anonymity import participation_digest
from tests.support import ALLOWED_RESPONSE_COLUMNS, email, make_service


async def _rows(db: Database, table: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as connection:
        result = await connection.execute(text(f"SELECT * FROM {table}"))
        return [dict(row._mapping) for row in result]


async def _columns(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as connection:
        columns = await connection.run_sync(lambda c: inspect(c).get_columns(table))
    return {column["name"] for column in columns}


async def _answer_all(db: Database, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    await service.deliver_outbox()
    configure_logging(verbose=True)
    with caplog.at_level(logging.DEBUG):
        for i in range(12):
            [card] = await service.pending_pulses(email(f"a{i}"))
            answers = {q.id: 1 + (i % 5) for q in card.questions}
            comment = {card.questions[0].id: f"comment number {i}"}
            await service.submit_pulse(email(f"a{i}"), card.round_id, answers, comment)
        await service.close_round(
            await service.team_named("Ward A")
        )  # who answered is written in full when it closes


async def test_response_rows_hold_nothing_about_the_person(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await _answer_all(db, settings, caplog)
    assert await _columns(db, "response") == ALLOWED_RESPONSE_COLUMNS
    people = await _rows(db, "person")
    identifying = {str(p["id"]) for p in people} | {p["email"] for p in people}
    identifying |= {p["display_name"] for p in people}
    responses = await _rows(db, "response")
    assert len(responses) == 36
    for row in responses:
        values = {
            str(value)
            for key, value in row.items()
            if key not in {"round_id", "team_id", "score", "sentiment"}
        }
        assert not values & identifying
        assert len(row["id"]) == 32 and len(row["submission_id"]) == 32  # random, not sequential
    days = {row["day"] for row in responses}
    assert len(days) == 1  # only the day is kept, never a time


async def test_participation_is_an_unordered_set_that_joins_to_nothing(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await _answer_all(db, settings, caplog)
    assert await _columns(db, "participation") == {"round_id", "digests", "respondents", "unsure"}
    [row] = await _rows(db, "participation")
    digests = row["digests"].split(",")
    assert row["respondents"] == 12 and digests == sorted(digests)
    # An attacker with the secret can tell *that* a person answered, but the set carries no order,
    # so the position of their digest says nothing about which submission is theirs.
    secret = settings.hashing_secret()
    people = await _rows(db, "person")
    mine = {participation_digest(secret, row["round_id"], p["id"]) for p in people}
    assert set(digests) <= mine
    # No other table is touched by answering: the outbox rows are the same as before answering.
    deliveries = await _rows(db, "delivery")
    assert {d["status"] for d in deliveries} == {"sent"}


async def test_sqlite_keeps_no_insertion_order_for_responses(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await _answer_all(db, settings, caplog)
    if db.url.startswith("sqlite"):
        async with db.engine.connect() as connection:
            sql = (
                await connection.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'response'")
                )
            ).scalar_one()
        assert "WITHOUT ROWID" in sql.upper()


async def test_logs_never_put_a_person_beside_an_answer(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await _answer_all(db, settings, caplog)
    for record in caplog.records:
        line = record.getMessage() + " " + repr(record.__dict__)
        assert f"@{email('x').split('@')[1]}" not in line
        assert "comment number" not in line
