"""A team's member source is platform-neutral (``slack:C…``): migration 0006 renames
``team.slack_sync`` and prefixes what it held, and its downgrade gives the old column back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from adapters.slack.sync import kind_of, stopped_label
from bot.member_sync import source_key, split_source
from storage.engine import Database
from storage.migrate import downgrade, upgrade
from tests.databases import backend_of, scratch_database

TEAMS = {"Ward A": "CWARD7", "Ward B": "SNURSES", "Tiny": None}


@pytest.fixture
async def url_at_0005(tmp_path: Path, database_url: str) -> AsyncIterator[str]:
    """A fresh database migrated to 0005 only, on the same backend as ``database_url``."""
    async with scratch_database(
        backend_of(database_url), tmp_path, "0005", "src", alembic=True
    ) as url:
        yield url


async def _sql(url: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            result = await connection.execute(text(statement), params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await db.dispose()


async def _teams_at_0005(url: str) -> None:
    await _sql(url, "INSERT INTO organisation (id, name, is_demo) VALUES (1, 'Trust', false)")
    for number, (name, synced) in enumerate(TEAMS.items(), start=1):
        await _sql(
            url,
            "INSERT INTO team (id, organisation_id, name, slack_sync, cadence, schedule_day, "
            "schedule_time, questions_per_pulse, created_at) VALUES (:id, 1, :name, :synced, "
            "'weekly', 'mon', '10:00', 3, CURRENT_TIMESTAMP)",
            id=number,
            name=name,
            synced=synced,
        )
    # rows that refer to the teams: the rename must not copy the table out from under them
    await _sql(
        url,
        "INSERT INTO person (id, organisation_id, email, display_name) "
        "VALUES (1, 1, 'a0@trust.nhs.uk', 'a0')",
    )
    await _sql(url, "INSERT INTO membership (team_id, person_id, role) VALUES (1, 1, 'member')")
    await _sql(url, "UPDATE team SET parent_id = 2 WHERE id = 3")


async def _indexes(url: str) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return {str(index["name"]) for index in inspect(connection).get_indexes("team")}

    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(names)
    finally:
        await db.dispose()


async def test_the_sources_gain_their_platform_and_lose_it_again(url_at_0005: str) -> None:
    url = url_at_0005
    await _teams_at_0005(url)

    await upgrade(url, "0006")
    rows = await _sql(url, "SELECT name, member_source FROM team ORDER BY id")
    assert dict(rows) == {"Ward A": "slack:CWARD7", "Ward B": "slack:SNURSES", "Tiny": None}
    assert "ix_team_member_source" in await _indexes(url)
    assert "ix_team_slack_sync" not in await _indexes(url)
    # a source of another platform (stored by a later version) has no place in the old column
    await _sql(url, "UPDATE team SET member_source = 'teams:19:abc' WHERE name = 'Tiny'")

    await downgrade(url, "0005")
    rows = await _sql(url, "SELECT name, slack_sync FROM team ORDER BY id")
    assert dict(rows) == {"Ward A": "CWARD7", "Ward B": "SNURSES", "Tiny": None}
    assert "ix_team_slack_sync" in await _indexes(url)
    assert "ix_team_member_source" not in await _indexes(url)
    assert await _sql(url, "SELECT team_id, person_id FROM membership") == [(1, 1)]


def test_a_slack_source_is_read_bare_or_stored() -> None:
    assert source_key("slack", "C0123") == "slack:C0123"
    assert split_source("slack:S0123ABC") == ("slack", "S0123ABC")
    assert kind_of("slack:S0123ABC") == kind_of("S0123ABC") == "usergroup"
    assert kind_of("slack:C0123") == kind_of("G0456") == "channel"
    assert stopped_label("slack:C0123") == "its channel"  # text: the reply is escaped whole
    assert stopped_label("slack:S0123ABC") == "its user group"
