"""A real ``teampulse serve`` SIGKILLed mid-round with Slack: no one lost, no one sent the pulse
twice.

One server alone: the killed process was waiting on two ``chat.postMessage`` answers, one Slack
had posted, one it never got.  The restart is the real server (in this process) with its clock
past the five-minute lease, so the rows the dead process left in flight are claimed again and
checked.

Two replicas on one PostgreSQL database, one killed: the survivor, on a short lease
(``TEAMPULSE_OUTBOX_LEASE_SECONDS``), claims the dead one's rows once their lease runs out and
checks each before sending."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.outbox import LEASE
from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from storage.models import Delivery, DeliveryStatus
from surveys.organisation import spec_from_yaml
from tests.conftest import BACKENDS
from tests.fake_slack import TOKEN, FakeSlack
from tests.slack_support import ORG, SECRET, connected, uid
from tests.support import FixedClock, email, serve
from tests.test_workers import free_port, server_env, serving

WARD_B = [f"b{i}" for i in range(6)]
POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]
CROWD = 200  # the two replicas' round
WIDTH = 8  # each replica's sends in flight (TEAMPULSE_OUTBOX_CONCURRENCY)
HUNG = 12  # posts Slack makes but never answers: more than WIDTH, so each replica holds some
LEASE_SECONDS = 10  # the replicas' lease (a send is abandoned after half of it)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    for name in WARD_B:
        slack.add_user(uid(name), email(name))
    yield slack
    await slack.stop()


async def statuses(db: Database) -> Counter[str]:
    async with db.session() as session:
        return Counter(row.status for row in (await session.exec(select(Delivery))).all())


async def test_a_server_killed_mid_round_sends_no_one_the_pulse_twice(
    settings: Settings, fake: FakeSlack
) -> None:
    db = Database(settings.database_url)
    opener = TeamPulse(db, settings)
    await opener.import_organisation(spec_from_yaml(ORG))
    await opener.open_round(await opener.team_named("Ward B"))  # the server's start-up sends it
    fake.lose_answer("chat.postMessage", arrives=True, hang=True)
    fake.lose_answer("chat.postMessage", arrives=False, hang=True)

    async with serving(server_env(settings, fake, free_port(), workers=1)) as server:
        await fake.wait_until(lambda: fake.held == 2)
        await fake.wait_for("chat.postMessage", count=5)  # 4 answered, 1 posted unanswered
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=60)
    assert server.process.returncode == -signal.SIGKILL
    left = await statuses(db)
    assert left[DeliveryStatus.SENDING] >= 2  # at least the two whose answers never came

    configured = connected(settings, fake, slack_bot_token=TOKEN, slack_signing_secret=SECRET)
    restarted = await serve(configured)
    try:
        service = restarted.app[SERVICE]
        service.clock = FixedClock(datetime.now(UTC) + LEASE + timedelta(seconds=1))
        assert await service.deliver_outbox() == left[DeliveryStatus.SENDING]
    finally:
        await restarted.runner.cleanup()
    assert {name: len(fake.pulses(f"D{uid(name)}")) for name in WARD_B} == dict.fromkeys(WARD_B, 1)
    assert len(fake.called("chat.postMessage")) == 6
    assert await statuses(db) == {DeliveryStatus.SENT: 6}
    await db.dispose()


def crowd_user(i: int) -> str:
    return f"UCROWD{i:03d}"


async def until(condition: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Until ``condition()`` holds, asked again every tenth of a second (another process's
    work, seen in the shared database)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout}s")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_two_replicas_one_killed_mid_round_reach_everyone_exactly_once(
    settings: Settings, fake: FakeSlack
) -> None:
    """Two ``teampulse serve`` replicas drain one round of 200.  The first 12 posts reach
    Slack and get no answer; each replica sends at most 8 at once, so when all 12 hang each
    replica holds at least 4.  One replica is SIGKILLed; the survivor claims its rows once their
    lease runs out, finds the posted ones in the DMs, and sends the rest."""
    crowd = [email(f"crowd{i}") for i in range(CROWD)]
    for i, address in enumerate(crowd):
        fake.add_user(crowd_user(i), address)
    db = Database(settings.database_url)
    opener = TeamPulse(db, settings)
    members = ", ".join(crowd)
    await opener.import_organisation(
        spec_from_yaml(f"name: Trust\nteams:\n  - name: Crowd\n    members: [{members}]\n")
    )
    for _ in range(HUNG):
        fake.lose_answer("chat.postMessage", arrives=True, hang=True)
    short = {
        "TEAMPULSE_OUTBOX_CONCURRENCY": str(WIDTH),
        "TEAMPULSE_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
    }

    def replica() -> dict[str, str]:
        return {**server_env(settings, fake, free_port(), workers=1), **short}

    def posted() -> int:
        return len(fake.called("chat.postMessage"))

    async def all_sent() -> bool:
        return await statuses(db) == {DeliveryStatus.SENT: CROWD}

    async with serving(replica(), "a.log") as killed, serving(replica(), "b.log"):
        await opener.open_round(await opener.team_named("Crowd"))  # its NOTIFY wakes both
        await fake.wait_until(lambda: fake.held == HUNG and posted() >= 60, timeout=60)
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(timeout=60)
        assert posted() < CROWD  # killed mid-round
        left = await statuses(db)  # the hung posts' rows: in flight, or abandoned as unknown
        assert left[DeliveryStatus.SENDING] + left[DeliveryStatus.UNCHECKED] >= HUNG
        fake.release_lost()  # the survivor's hung posts get their 500 and are read back
        await until(all_sent, timeout=90)
    assert killed.process.returncode == -signal.SIGKILL
    reached = Counter(len(fake.pulses(f"D{crowd_user(i)}")) for i in range(CROWD))
    assert reached == {1: CROWD}  # everyone, once
    assert posted() == CROWD
    await db.dispose()
