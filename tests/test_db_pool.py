"""The PostgreSQL pool per process (``TEAMPULSE_DB_POOL_SIZE``, ``TEAMPULSE_DB_MAX_OVERFLOW``):
the outbox sends at full width through a pool with one connection to spare, and ``serve`` warns
when its workers' pools could take more connections than PostgreSQL allows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event

from bot.cli import _check_pool
from bot.server import SERVICE
from bot.settings import Settings
from bot.wake import listen
from storage.engine import (
    HELD_CONNECTIONS,
    MAX_OVERFLOW,
    MIN_POOL_SIZE,
    Database,
    connection_limit,
)
from storage.leader import Election
from surveys.organisation import spec_from_yaml
from tests.conftest import BACKENDS
from tests.fake_slack import TOKEN, FakeSlack
from tests.slack_support import SECRET, connected, uid
from tests.support import HighWater, email, serve

POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]
CROWD = [f"n{i}" for i in range(96)]
WIDTH = 32  # TEAMPULSE_OUTBOX_CONCURRENCY's default


def crowd_org() -> str:
    members = ", ".join(email(name) for name in CROWD)
    return f"name: Pool Trust\nteams:\n  - name: Nights\n    members: [{members}]\n"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    for name in CROWD:
        slack.add_user(uid(name), email(name))
    yield slack
    await slack.stop()


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_a_full_width_outbox_sends_a_round_through_a_pool_with_one_connection_spare(
    settings: Settings, fake: FakeSlack
) -> None:
    small = connected(
        settings.model_copy(update={"db_pool_size": MIN_POOL_SIZE, "db_max_overflow": 0}),
        fake,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
    )
    assert small.outbox_concurrency == WIDTH
    running = await serve(small)
    service = running.app[SERVICE]
    engine = service.db.engine
    assert engine.pool.size() == MIN_POOL_SIZE  # (the setting reached the engine)
    water = HighWater()
    event.listen(engine.sync_engine, "checkout", water.checkout)
    event.listen(engine.sync_engine, "checkin", water.checkin)
    # what a serving process holds for its whole life: the election's connection, the outbox
    # listener's and the participation claims' (the scheduler's are off in ``serve``)
    election = asyncio.ensure_future(Election(engine).run(_nothing, _nothing))
    unlisten = await listen(service.db, service.wake_outbox)
    assert await service.participants.claims.claim(["ab" * 32]) == {"ab" * 32}
    try:
        await service.import_organisation(spec_from_yaml(crowd_org()))
        await service.open_round(await service.team_named("Nights"))
        assert water.out == HELD_CONNECTIONS  # one connection left for everything else
        sent = await asyncio.wait_for(service.deliver_outbox(), timeout=120)
        status = await service.status_report()
    finally:
        election.cancel()
        await asyncio.gather(election, return_exceptions=True)
        await unlisten()
        await running.runner.cleanup()
    assert sent == len(CROWD)
    # each person reached once, and nothing failed or was left for a retry
    posted = [call.params["channel"] for call in fake.called("chat.postMessage")]
    assert sorted(posted) == sorted(f"D{uid(name)}" for name in CROWD)
    assert water.most == MIN_POOL_SIZE  # every connection busy at times, and never one more
    assert f"{len(CROWD)} delivered, 0 waiting, 0 failed" in status, status


async def _nothing() -> None:
    return None


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_serve_warns_when_its_workers_pools_could_exceed_max_connections(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(settings.database_url)
    try:
        limit = await connection_limit(db.engine)
    finally:
        await db.dispose()
    assert limit is not None and 0 < limit < 10_000
    fits = settings.model_copy(update={"workers": 2, "db_pool_size": 10, "db_max_overflow": 5})
    assert limit >= 2 * 15 and fits.pool_problem(limit) is None
    over = settings.model_copy(
        update={"workers": 8, "db_pool_size": limit // 8, "db_max_overflow": 5}
    )
    with caplog.at_level(logging.WARNING):
        await _check_pool(fits)
        assert not caplog.records
        await _check_pool(over)
    [warning] = caplog.records
    said = warning.getMessage()
    assert "TEAMPULSE_WORKERS (8)" in said and "TEAMPULSE_DB_POOL_SIZE" in said
    assert f"the {limit} PostgreSQL allows" in said and "max_connections" in said
    # one server process asks through its service's database: the connection it used is back
    # in the service's pool, not closed with an engine of its own
    service_db = Database(settings.database_url)
    try:
        with caplog.at_level(logging.WARNING):
            await _check_pool(over, service_db)
        assert [r.getMessage() for r in caplog.records] == [said, said]
        assert service_db.engine.pool.checkedin() == 1
    finally:
        await service_db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_has_no_connection_limit_to_warn_about(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        await _check_pool(settings.model_copy(update={"workers": 64, "db_pool_size": 1000}))
    assert not caplog.records


def test_a_pool_too_small_for_the_connections_a_process_holds_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="TEAMPULSE_DB_POOL_SIZE") as refused:
        Settings(_env_file=None, TEAMPULSE_DB_POOL_SIZE=HELD_CONNECTIONS)  # type: ignore[call-arg]
    assert f"greater than or equal to {MIN_POOL_SIZE}" in str(refused.value)
    fits = Settings(_env_file=None, TEAMPULSE_DB_POOL_SIZE=MIN_POOL_SIZE)  # type: ignore[call-arg]
    assert fits.db_connections == MIN_POOL_SIZE + MAX_OVERFLOW
