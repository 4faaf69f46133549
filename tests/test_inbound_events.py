"""Events already taken in, decided by the database: two replicas given the same Slack event handle
it once; the table of ids is pruned; and the migrations build exactly the models' tables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlmodel import SQLModel, select

from bot.server import SERVICE
from bot.settings import Settings
from storage.engine import Database, make_engine
from storage.inbound import KEEP, PRUNE_EVERY, InboundEvents
from storage.models import InboundEvent
from surveys.organisation import spec_from_yaml
from tests.fake_slack import TOKEN, FakeSlack
from tests.slack_support import ORG, SECRET, Slack, connected, dm_message, texts, uid
from tests.support import FixedClock, email, serve


async def stored_ids(db: Database) -> set[tuple[str, str]]:
    async with db.session() as session:
        rows = (await session.exec(select(InboundEvent.platform, InboundEvent.event_id))).all()
    return {(platform, event_id) for platform, event_id in rows}


async def test_the_first_delivery_anywhere_wins_and_old_ids_are_pruned(db: Database) -> None:
    clock = FixedClock()
    replicas = [InboundEvents(db, clock=clock) for _ in range(4)]
    firsts = await asyncio.gather(*(r.first_time("slack", "Ev1") for r in replicas))
    assert sorted(firsts) == [False, False, False, True]
    assert not await replicas[0].first_time("slack", "Ev1")
    assert await replicas[1].first_time("teams", "Ev1")  # ids are per platform

    clock.now += KEEP + PRUNE_EVERY
    assert await replicas[0].first_time("slack", "Ev2")  # and prunes what is older than KEEP
    assert await stored_ids(db) == {("slack", "Ev2")}


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


@pytest.mark.alembic
async def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[Slack, Slack]]:
    """Two servers on one database, behind one (imaginary) load balancer."""
    fake = FakeSlack()
    await fake.start()
    fake.add_user(uid("a2"), email("a2"))
    configured = connected(settings, fake, slack_bot_token=TOKEN, slack_signing_secret=SECRET)
    one, two = await serve(configured), await serve(configured)
    await one.app[SERVICE].import_organisation(spec_from_yaml(ORG))
    async with aiohttp.ClientSession() as http:
        yield (
            Slack(one.url, fake, one.app[SERVICE], http),
            Slack(two.url, fake, two.app[SERVICE], http),
        )
    await one.runner.cleanup()
    await two.runner.cleanup()
    await fake.stop()


async def test_a_redelivery_to_another_replica_is_handled_once(
    replicas: tuple[Slack, Slack],
) -> None:
    one, two = replicas
    channel = f"D{uid('a2')}"
    message = dm_message(uid("a2"), "pulse help")
    # Slack timed out on the first delivery and retried at once: each replica got a copy
    first, retried = await asyncio.gather(
        one.event(message, "Ev0TWICE"), two.event(message, "Ev0TWICE", retry=1)
    )
    assert first.status == retried.status == 200
    skipped = [r.headers.get("X-Slack-No-Retry") for r in (first, retried)]
    assert sorted(skipped, key=str) == ["1", None]
    # a later retry, to either, is still a repeat; another event is handled
    assert (await one.event(message, "Ev0TWICE", retry=2)).headers.get("X-Slack-No-Retry") == "1"
    status = {**message, "text": "pulse status", "ts": "1700000101.000100"}
    assert (await two.event(status, "Ev0NEXT")).status == 200
    replies = await one.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == channel, count=2
    )
    assert sum("kudos" in texts(c.params["blocks"]) for c in replies) == 1
    assert sum("Your teams" in texts(c.params["blocks"]) for c in replies) == 1
    assert await stored_ids(one.service.db) == {("slack", "Ev0TWICE"), ("slack", "Ev0NEXT")}


async def test_an_event_is_still_answered_when_its_id_cannot_be_recorded(
    replicas: tuple[Slack, Slack], caplog: pytest.LogCaptureFixture
) -> None:
    one, _ = replicas
    async with one.service.db.engine.begin() as connection:
        await connection.execute(text("DROP TABLE inbound_event"))  # the database misbehaves
    channel = f"D{uid('a2')}"
    message = dm_message(uid("a2"), "pulse help", "1700000200.000100")
    response = await one.event(message, "Ev0NOTABLE")
    assert response.status == 200  # answered twice beats never answered
    [reply] = await one.fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == channel)
    assert "kudos" in texts(reply.params["blocks"])
    assert "could not record a Slack event id" in caplog.text
