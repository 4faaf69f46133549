"""The core's store of platform places (``service.places``): what one replica keeps another reads,
a forgotten place is gone for everyone, and migration 0008 goes down and up again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from storage.migrate import downgrade, upgrade
from tests.support import make_service


async def test_a_place_kept_by_one_replica_is_read_and_forgotten_by_another(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    other = TeamPulse(db, settings)  # a second replica on the same database
    channel = "channel:19:ward7@thread.tacv2"
    await service.places.put("teams", channel, {"service_url": "https://smba.example/emea/"})
    await service.places.put("teams", channel, {"tenant": "t-1"})
    assert await other.places.get("teams", channel) == {
        "service_url": "https://smba.example/emea/",
        "tenant": "t-1",
    }
    await other.places.put("teams", channel, {"tenant": None})  # None drops a key
    assert await service.places.get("teams", channel) == {
        "service_url": "https://smba.example/emea/"
    }
    assert await service.places.get("slack", channel) == {}  # places are per platform

    await service.places.put("teams", "team:19:abc", {"name": "Ward 7"})
    await service.places.put("teams", "team:19:a%c", {"name": "Wildcard"})
    assert await other.places.keys("teams", "team:") == ["team:19:a%c", "team:19:abc"]
    assert await other.places.keys("teams", "team:19:a%") == ["team:19:a%c"]  # no LIKE wildcards

    await other.places.forget("teams", channel)
    assert await service.places.get("teams", channel) == {}


async def _tables(url: str) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(names)
    finally:
        await database.dispose()


@pytest.mark.alembic
async def test_migration_0008_goes_down_and_up_again(database_url: str) -> None:
    url = database_url
    assert "platform_place" in await _tables(url)
    await downgrade(url, "0007")
    assert "platform_place" not in await _tables(url)
    await upgrade(url, "head")
    assert "platform_place" in await _tables(url)
