"""The Teams tests' shared parts: Teams' people as the fake Bot Connector knows them, activities as
Teams POSTs them, and the real server with Teams on (``teams``; authentication off on purpose).
The fixtures are registered in ``tests/conftest.py``."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from storage.models import ConversationReference, InboundEvent, PlatformIdentity
from surveys.organisation import spec_from_yaml
from tests.fake_teams import TENANT, FakeTeams, Member
from tests.support import ORG_YAML, email, serve

APP_ID = "00000000-0000-0000-0000-000000000a99"  # (a GUID, as Azure gives)
STRANGER = Member("29:stranger", "aad-stranger", "Sam Stranger", "sam@elsewhere.example")
_ids = itertools.count(1)


def member(name: str) -> Member:
    return Member(f"29:{name}", f"aad-{name}", name.title(), email(name))


def activity(who: Member, service_url: str, **more: Any) -> dict[str, Any]:
    """An activity from ``who`` in their 1:1 chat with the bot, as Teams POSTs it (``more``
    gives its type and the rest)."""
    return {
        "id": f"17000000000{next(_ids):02d}",
        "timestamp": "2026-11-30T00:30:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": who.account, "name": who.name, "aadObjectId": who.aad_object_id},
        "recipient": {"id": f"28:{APP_ID}", "name": "teampulse"},
        "conversation": {
            "id": conversation_of(who),
            "conversationType": "personal",
            "tenantId": "tenant-test",
        },
        "channelData": {"tenant": {"id": "tenant-test"}},
        **more,
    }


def personal_message(who: Member, text: str, service_url: str, **more: Any) -> dict[str, Any]:
    """A ``message`` activity in the person's 1:1 chat with the bot."""
    clients = [{"type": "clientInfo", "locale": "en-GB"}]
    message = {"type": "message", "text": text, "textFormat": "plain", "locale": "en-GB"}
    return activity(who, service_url, **{**message, "entities": clients, **more})


def conversation_of(who: Member) -> str:
    return f"a:personal-{who.aad_object_id}"


@dataclass
class Teams:
    url: str
    fake: FakeTeams
    service: TeamPulse
    http: aiohttp.ClientSession

    async def post(
        self, body: dict[str, Any] | str, headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        data = body if isinstance(body, str) else json.dumps(body)
        sent = {"Content-Type": "application/json", **(headers or {})}
        response = await self.http.post(self.url + "/api/messages", data=data, headers=sent)
        await response.read()
        return response

    async def say(self, who: Member, text: str) -> aiohttp.ClientResponse:
        return await self.post(personal_message(who, text, self.fake.service_url))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    fake = FakeTeams()
    await fake.start()
    for name in ("a1", "a2", "manager.a"):
        fake.add_member(member(name))
    fake.add_member(STRANGER)
    yield fake
    await fake.stop()


async def running(settings: Settings, fake: FakeTeams) -> AsyncIterator[Teams]:
    served = settings.teams_tenants_raw or TENANT  # (the fake's, unless a test names its own)
    configured = settings.model_copy(update={"local_chat": None, "teams_tenants_raw": served})
    assert configured.teams_configured and not configured.local_mode
    server = await serve(configured)
    service = server.app[SERVICE]
    await service.import_organisation(spec_from_yaml(ORG_YAML))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        yield Teams(server.url, fake, service, http)
    await server.runner.cleanup()


@pytest.fixture
async def teams(settings: Settings, fake: FakeTeams) -> AsyncIterator[Teams]:
    """The server with Teams authentication off on purpose (no app id)."""
    async for teams in running(settings.model_copy(update={"teams_auth": "off"}), fake):
        yield teams


async def stored(service: TeamPulse) -> list[Any]:
    """Everything a Teams request could have written about someone."""
    async with service.db.session() as session:
        rows: list[Any] = []
        for model in (PlatformIdentity, ConversationReference, InboundEvent):
            rows += (await session.exec(select(model))).all()
        return rows
