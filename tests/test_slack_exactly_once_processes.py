"""A real ``teampulse serve`` SIGKILLed mid-round with Slack, then restarted: no one lost, no one
sent the pulse twice.

The killed process was waiting on two ``chat.postMessage`` answers: one Slack had posted, one it
never got.  The restart is the real server (in this process) with its clock past the five-minute
lease, so the rows the dead process left in flight are claimed again and checked."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator
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
from tests.fake_slack import TOKEN, FakeSlack
from tests.slack_support import ORG, SECRET, connected, uid
from tests.support import FixedClock, email, serve
from tests.test_workers import free_port, server_env, serving

WARD_B = [f"b{i}" for i in range(6)]


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
