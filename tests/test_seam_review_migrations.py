"""Migrations 0006 and 0007 on a populated database, on SQLite and PostgreSQL: up to head, a
general comment stored, down to 0005 and up again, every row that the schema keeps still there."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.migrate import downgrade, upgrade
from tests import test_member_source
from tests.test_member_source import _sql, _teams_at_0005

url_at_0005 = test_member_source.url_at_0005  # the fixture: a database at 0005


async def _tables(url: str) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(names)
    finally:
        await db.dispose()


async def test_a_populated_database_goes_to_head_down_and_up_again(url_at_0005: str) -> None:
    url = url_at_0005
    await _teams_at_0005(url)
    await _sql(
        url,
        "INSERT INTO pulse_round (id, team_id, sequence, opened_on, closes_on, closed, reminded, "
        "plan) VALUES (1, 1, 1, '2026-11-23', '2026-11-27', true, false, '{}')",
    )

    await upgrade(url, "head")
    await _sql(
        url,
        "INSERT INTO general_comment (id, round_id, comment, sentiment) "
        "VALUES ('g1', 1, 'More breaks please', 0.5)",
    )
    assert await _sql(url, "SELECT round_id, comment FROM general_comment") == [
        (1, "More breaks please")
    ]

    await downgrade(url, "0005")
    assert "general_comment" not in await _tables(url)
    assert await _sql(url, "SELECT id, team_id FROM pulse_round") == [(1, 1)]
    assert await _sql(url, "SELECT team_id, person_id FROM membership") == [(1, 1)]

    await upgrade(url, "head")
    rows = await _sql(url, "SELECT name, member_source FROM team ORDER BY id")
    assert dict(rows) == {"Ward A": "slack:CWARD7", "Ward B": "slack:SNURSES", "Tiny": None}
    assert await _sql(url, "SELECT id, team_id FROM pulse_round") == [(1, 1)]
    assert await _sql(url, "SELECT comment FROM general_comment") == []
