"""Teams, proactive side: scheduled pulses, reminders and kudos posts reach people's 1:1 chats and
teams' channels through the Bot Connector (the local fake in ``tests/fake_teams.py``), from the
core's own outbox, with Teams' throttling and failures answered as Teams asks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from time import monotonic as time_now
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from adapters.teams import TeamsPlatform, references
from adapters.teams.pacing import MAX_TRIES, MAX_WAIT
from adapters.teams.render import message as activity_for
from adapters.teams.sdk.outbound import retry_after
from bot.platforms import IdentityRouter
from bot.ports import Recipient
from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import Receipt
from storage.models import Delivery, DeliveryStatus, PulseRound
from surveys.organisation import spec_from_yaml
from tests.fake_teams import TENANT, FakeTeams, Member, card_texts
from tests.support import FixedClock, Running, email, serve
from tests.test_teams import conversation_of, member, personal_message

TEAM_ID = "19:team-ward-t@thread.tacv2"  # the team's General channel has the team's id
CHANNEL = "19:celebrations@thread.tacv2"
ORG = f"""
name: Test Trust
teams:
  - name: Ward T
    managers: [{email("manager.t")}]
    members: [{email("t0")}, {email("t1")}, {email("t2")}]
    channel: {{teams: "{CHANNEL}"}}
"""


class Waits:
    """The retry waits asked for, counted instead of slept (a fake clock for ``Paced``)."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.seen.append(seconds)


@dataclass
class Teams:
    fake: FakeTeams
    server: Running
    http: aiohttp.ClientSession
    waits: Waits = field(default_factory=Waits)

    @property
    def service(self) -> TeamPulse:
        service: TeamPulse = self.server.app[SERVICE]
        return service

    @property
    def platform(self) -> TeamsPlatform:
        router = self.service.messenger
        assert isinstance(router, IdentityRouter)
        [platform] = router.platforms
        assert isinstance(platform, TeamsPlatform)
        return platform

    async def say(self, who: Member, text: str) -> None:
        activity = personal_message(who, text, self.fake.service_url)
        response = await self.http.post(self.server.url + "/api/messages", json=activity)
        assert response.status == 201

    async def recipient(self, name: str) -> Recipient:
        found = await self.service.identities.recipient(email(name))
        assert found is not None
        return found

    async def reference(self, name: str) -> dict[str, Any]:
        return await self.service.identities.reference("teams", await self.recipient(name))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    fake = FakeTeams()
    await fake.start()
    for name in ("t0", "t1", "t2", "manager.t"):
        fake.add_member(member(name))
    yield fake
    await fake.stop()


async def started(settings: Settings, fake: FakeTeams, http: aiohttp.ClientSession) -> Teams:
    """The real server, Teams authentication off on purpose (no app id): the Bot Connector is
    then called without a token, at the fake's ``serviceUrl``."""
    served = {"teams_auth": "off", "teams_tenants_raw": settings.teams_tenants_raw or TENANT}
    configured = settings.model_copy(update={"local_chat": None, **served})
    teams = Teams(fake, await serve(configured), http)
    teams.platform.outbound.sleep = teams.waits.sleep
    teams.service.clock = FixedClock()
    return teams


@pytest.fixture
async def teams(settings: Settings, fake: FakeTeams) -> AsyncIterator[Teams]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        teams = await started(settings, fake, http)
        await teams.service.import_organisation(spec_from_yaml(ORG))
        yield teams
        await teams.server.runner.cleanup()


async def pulse_round(teams: Teams) -> int:
    """Open Ward T's round and run the outbox once: how many pulses went out."""
    await teams.service.open_round(await teams.service.team_named("Ward T"))
    return await teams.service.deliver_outbox()


async def outbox(service: TeamPulse) -> dict[int, Delivery]:
    """The outbox's rows, by person id."""
    async with service.db.session() as session:
        return {row.person_id: row for row in (await session.exec(select(Delivery))).all()}


def pulses_in(fake: FakeTeams, who: Member) -> list[str]:
    return [text for text in fake.sent_texts(conversation_of(who)) if "Ward T pulse check" in text]


async def known_from_roster(teams: Teams, name: str, *, service_url: str | None) -> None:
    """What the inbound side keeps of someone found in a team's roster who never chatted."""
    who, recipient = member(name), await teams.recipient(name)
    await teams.service.identities.link("teams", recipient, who.account)
    kept = references.from_roster(who.account, who.aad_object_id, TENANT, service_url or "")
    await teams.service.identities.update_reference("teams", recipient, kept)


# -- pulses to people ------------------------------------------------------------------------
async def test_someone_who_chatted_once_gets_the_pulse_in_their_chat(teams: Teams) -> None:
    t0 = member("t0")
    await teams.say(t0, "pulse help")
    assert await pulse_round(teams) == 1  # t1 and t2 have no Teams chat yet: left in the outbox
    [pulse] = pulses_in(teams.fake, t0)
    assert "Ward T" in pulse
    [sent] = teams.fake.called("send", conversation=conversation_of(t0))[1:]
    [card] = sent.params["activity"]["attachments"]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    # the pulse's message id is kept, for a later receipt or reminder to refer to
    [round_id] = [int(key) for key in (await teams.reference("t0"))["pulses"]]
    recipient = await teams.recipient("t0")
    message = await teams.service.identities.pulse_message("teams", recipient, round_id)
    assert message == sent.answer["id"]
    rows = await outbox(teams.service)
    assert rows[recipient.person_id].status == DeliveryStatus.SENT
    assert [r.status for r in rows.values()].count(DeliveryStatus.PENDING) == 2


async def test_after_a_restart_the_kept_reference_is_enough(
    settings: Settings, fake: FakeTeams
) -> None:
    t0 = member("t0")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        first = await started(settings, fake, http)
        await first.service.import_organisation(spec_from_yaml(ORG))
        await first.say(t0, "pulse help")
        await first.server.runner.cleanup()
        calls_before = len(fake.calls)

        again = await started(settings, fake, http)  # a new server and service, same database
        try:
            assert await pulse_round(again) == 1
        finally:
            await again.server.runner.cleanup()
    assert len(pulses_in(fake, t0)) == 1
    assert [c.method for c in fake.calls[calls_before:]] == ["send"]  # no lookup, no new chat


async def test_nothing_is_sent_into_a_tenant_taken_off_the_list(
    settings: Settings, fake: FakeTeams
) -> None:
    """t0 chatted and t1 is known from a roster while the tenant was served; restarted serving
    another tenant only, neither gets a pulse, and no chat is opened."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        first = await started(settings, fake, http)
        await first.service.import_organisation(spec_from_yaml(ORG))
        await first.say(member("t0"), "pulse help")
        assert references.conversation(await first.reference("t0")) is not None
        await references.keep_tenant(first.service.places, TENANT, fake.service_url)
        await known_from_roster(first, "t1", service_url=fake.service_url)
        await first.server.runner.cleanup()
        calls_before = len(fake.calls)

        narrowed = settings.model_copy(update={"teams_tenants_raw": "tenant-other"})
        again = await started(narrowed, fake, http)
        try:
            assert await pulse_round(again) == 0
            rows = await outbox(again.service)
        finally:
            await again.server.runner.cleanup()
    assert fake.calls[calls_before:] == []
    assert all((row.last_error or "").startswith("Unreachable") for row in rows.values())


@pytest.mark.parametrize("own_service_url", [True, False], ids=["own", "tenant's"])
async def test_someone_known_from_a_roster_gets_a_chat_opened_then_the_pulse(
    teams: Teams, own_service_url: bool
) -> None:
    fake, t1 = teams.fake, member("t1")
    if not own_service_url:  # only the tenant's service URL is known
        await references.keep_tenant(teams.service.places, TENANT, fake.service_url)
    await known_from_roster(teams, "t1", service_url=fake.service_url if own_service_url else None)
    assert await pulse_round(teams) == 1

    [opened] = fake.called("create_conversation")
    assert opened.params["account"] == t1.account and opened.params["tenant"] == TENANT
    assert opened.params["is_group"] is False
    assert opened.params["body"]["channelData"] == {"tenant": {"id": TENANT}}
    chat = opened.answer["id"]
    assert len(pulses_in(fake, member("t1"))) == 0  # (that is the chat the person had with us)
    [pulse] = fake.sent_texts(chat)
    assert "Ward T" in pulse
    kept = references.conversation(await teams.reference("t1"))
    assert kept is not None and references.conversation_id(kept) == chat
    assert kept["serviceUrl"] == fake.service_url and references.tenant_of(kept) == TENANT

    # the chat is kept: the reminder the day before the round closes goes there, none is opened
    async with teams.service.db.session() as session:
        [opened_round] = (await session.exec(select(PulseRound))).all()
    day_before = opened_round.closes_on - timedelta(days=1)
    teams.service.clock = FixedClock(datetime.combine(day_before, time(10), UTC))
    assert await teams.service.send_reminders() == 1
    assert len(fake.called("create_conversation")) == 1
    [_pulse, reminder] = fake.sent_texts(chat)
    assert "Reminder" in reminder


async def test_someone_teams_knows_nothing_of_is_left_for_another_platform(teams: Teams) -> None:
    assert await pulse_round(teams) == 0
    assert teams.fake.calls == []
    rows = await outbox(teams.service)
    assert all(r.status == DeliveryStatus.PENDING and r.attempts == 1 for r in rows.values())
    assert all("Unreachable" in (r.last_error or "") for r in rows.values())


async def test_someone_teams_will_not_open_a_chat_with_is_left_for_another_platform(
    teams: Teams,
) -> None:
    """The app is not installed for them (403), or the roster's account is no more (400)."""
    fake = teams.fake
    await known_from_roster(teams, "t1", service_url=fake.service_url)
    await known_from_roster(teams, "t2", service_url=fake.service_url)
    fake.uninstall(member("t1").account)
    del fake.members[member("t2").account]
    assert await pulse_round(teams) == 0
    assert sorted(c.status for c in fake.calls) == [400, 403]  # sent side by side
    rows = await outbox(teams.service)
    for name in ("t1", "t2"):
        row = rows[(await teams.recipient(name)).person_id]
        assert row.status == DeliveryStatus.PENDING and "Unreachable" in (row.last_error or "")
        assert references.conversation(await teams.reference(name)) is None


# -- throttling and failures -----------------------------------------------------------------
async def test_a_429_is_waited_out_as_told_and_the_pulse_sent_once(teams: Teams) -> None:
    t0 = member("t0")
    await teams.say(t0, "pulse help")
    teams.fake.rate_limit_next("send", retry_after=3)
    assert await pulse_round(teams) == 1
    assert teams.waits.seen == [3.0]
    assert len(teams.fake.refused("send", 429)) == 1
    assert len(pulses_in(teams.fake, t0)) == 1


async def test_a_502_is_tried_again_after_a_short_backoff(teams: Teams) -> None:
    t0 = member("t0")
    await teams.say(t0, "pulse help")
    teams.fake.error_next("send", 502)
    assert await pulse_round(teams) == 1
    [wait] = teams.waits.seen
    assert 0 < wait <= 1
    assert len(pulses_in(teams.fake, t0)) == 1


async def test_a_connector_that_keeps_failing_is_left_to_the_outbox(teams: Teams) -> None:
    t0 = member("t0")
    await teams.say(t0, "pulse help")
    for _ in range(MAX_TRIES + 2):
        teams.fake.error_next("send", 504)
    assert await pulse_round(teams) == 0
    assert len(teams.fake.refused("send", 504)) == MAX_TRIES  # bounded tries ...
    assert len(teams.waits.seen) == MAX_TRIES - 1 and sum(teams.waits.seen) <= MAX_WAIT  # ... waits
    row = (await outbox(teams.service))[(await teams.recipient("t0")).person_id]
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1
    assert "504" in (row.last_error or "")


async def test_a_long_retry_after_is_not_waited_out_inside_the_outbox(teams: Teams) -> None:
    t0 = member("t0")
    await teams.say(t0, "pulse help")
    teams.fake.rate_limit_next("send", retry_after=3600)
    assert await pulse_round(teams) == 0
    assert teams.waits.seen == []
    assert len(teams.fake.refused("send", 429)) == 1
    row = (await outbox(teams.service))[(await teams.recipient("t0")).person_id]
    assert row.status == DeliveryStatus.PENDING and "429" in (row.last_error or "")


@pytest.mark.parametrize(("tenant_rps", "sends", "at_least"), [(1000, 10, 0.4), (2, 3, 0.4)])
async def test_sends_are_paced_per_conversation_and_per_tenant(
    settings: Settings, fake: FakeTeams, tenant_rps: float, sends: int, at_least: float
) -> None:
    """Teams takes 7 sends a second in one conversation, and the tenant's budget
    (``TEAMPULSE_TEAMS_TENANT_RPS``) across all: sends past either wait their turn (1/7 s, or
    1/2 s, each) instead of being refused."""
    update = {"teams_tenant_rps": tenant_rps}
    async with aiohttp.ClientSession() as http:
        teams = await started(settings.model_copy(update=update), fake, http)
        try:
            outbound, chat = teams.platform.outbound, channel_reference(fake)
            started_at = time_now()
            await asyncio.gather(*(outbound.send(chat, {"text": f"{i}"}) for i in range(sends)))
            assert time_now() - started_at >= at_least
        finally:
            await teams.server.runner.cleanup()
    assert len(fake.sent_texts(CHANNEL)) == sends


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 30, 2, 0, 0, tzinfo=UTC)
    assert retry_after("2") == 2.0
    assert retry_after("Mon, 30 Nov 2026 02:00:05 GMT", lambda: now) == 5.0
    assert retry_after("Mon, 30 Nov 2026 01:00:00 GMT", lambda: now) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None


async def test_an_uninstalled_app_forgets_the_chat_and_teams_stops_trying(teams: Teams) -> None:
    fake, t0 = teams.fake, member("t0")
    await teams.say(t0, "pulse help")
    fake.uninstall(conversation_of(t0))
    assert await pulse_round(teams) == 0
    assert len(fake.refused("send", 403)) == 1
    assert references.conversation(await teams.reference("t0")) is None
    calls = len(fake.calls)

    clock = teams.service.clock
    assert isinstance(clock, FixedClock)
    clock.now += timedelta(hours=1)  # the outbox's next try
    assert await teams.service.deliver_outbox() == 0
    assert len(fake.calls) == calls  # Teams is not asked again
    row = (await outbox(teams.service))[(await teams.recipient("t0")).person_id]
    assert row.attempts == 2 and "Unreachable" in (row.last_error or "")


async def test_a_sent_message_can_be_replaced(teams: Teams) -> None:
    """``update``: a sent card replaced (by its receipt, say) in the same chat."""
    t0 = member("t0")
    await teams.say(t0, "pulse help")
    chat = references.conversation(await teams.reference("t0"))
    assert chat is not None
    outbound = teams.platform.outbound
    message = await outbound.send(chat, {"type": "message", "text": "a card"})
    receipt = Receipt(round_id=1, team="Ward T", text="Thank you: your answers are in.")
    await outbound.update(chat, message, activity_for(receipt))
    [update] = teams.fake.called("update", conversation=conversation_of(t0))
    assert update.params["message"] == message
    shown = card_texts(update.params["activity"]["attachments"])
    assert "Thank you: your answers are in." in shown


# -- team channels -----------------------------------------------------------------------------
def channel_reference(fake: FakeTeams) -> dict[str, Any]:
    """A channel's conversation reference, as the inbound side keeps it."""
    return {
        "serviceUrl": fake.service_url,
        "channelId": "msteams",
        "conversation": {
            "id": CHANNEL,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TENANT,
        },
        "bot": {"id": "28:teampulse", "name": "teampulse"},
    }


async def test_kudos_are_posted_in_the_teams_channel(teams: Teams) -> None:
    fake = teams.fake
    await references.keep_channel(teams.service.places, CHANNEL, channel_reference(fake), TEAM_ID)
    await teams.say(member("t0"), "kudos @t1 thanks for covering the night shift #teamwork")
    [post] = fake.sent_texts(CHANNEL)
    assert "thanks for covering the night shift" in post
    [answer] = fake.sent_texts(conversation_of(member("t0")))  # the giver sees it too
    assert "thanks for covering the night shift" in answer


async def test_a_channel_the_bot_was_removed_from_is_forgotten(teams: Teams) -> None:
    fake, t0 = teams.fake, member("t0")
    await references.keep_channel(teams.service.places, CHANNEL, channel_reference(fake), TEAM_ID)
    fake.uninstall(CHANNEL)
    await teams.say(t0, "kudos @t1 thanks #teamwork")
    assert len(fake.refused("send", 403)) == 1
    assert len(fake.sent_texts(conversation_of(t0))) == 1  # the giver still hears back
    assert await references.channel_reference(teams.service.places, CHANNEL) is None
    assert await references.channel_team(teams.service.places, CHANNEL) == TEAM_ID
    await teams.say(t0, "kudos @t2 thanks too #teamwork")
    assert len(fake.refused("send", 403)) == 1  # not tried again


async def test_a_team_whose_channel_the_bot_is_not_in_gets_no_post(teams: Teams) -> None:
    t0 = member("t0")
    await teams.say(t0, "kudos @t1 thanks #teamwork")
    assert [c.method for c in teams.fake.calls] == ["get_member", "send"]  # the answer only


# -- rosters -----------------------------------------------------------------------------------
async def test_a_roster_is_read_page_by_page(teams: Teams) -> None:
    fake = teams.fake
    fake.rosters[TEAM_ID] = [member(f"t{i}") for i in range(3)] + [member("manager.t")]
    fake.page_size = 3
    fake.rate_limit_next("paged_members", retry_after=1)
    roster = await teams.platform.outbound.roster(channel_reference(fake), TEAM_ID)
    assert [m["account"] for m in roster] == ["29:t0", "29:t1", "29:t2", "29:manager.t"]
    assert roster[0] == {
        "account": "29:t0",
        "aad": "aad-t0",
        "name": "T0",
        "email": email("t0"),
        "upn": email("t0"),
        "tenant": TENANT,
    }
    pages = fake.called("paged_members", team=TEAM_ID)
    assert [p.params["token"] for p in pages] == [None, "3"]
    assert teams.waits.seen == [1.0]  # the throttled first page, waited out once


async def test_a_roster_from_the_general_channel_needs_no_team_id(teams: Teams) -> None:
    fake = teams.fake
    fake.rosters[TEAM_ID] = [member("t0")]
    general = channel_reference(fake)
    general["conversation"]["id"] = TEAM_ID
    roster = await teams.platform.outbound.connector.roster(general)
    assert [m["email"] for m in roster] == [email("t0")]
    [page] = fake.called("paged_members")
    assert page.params == {"team": TEAM_ID, "page_size": "100", "token": None}
