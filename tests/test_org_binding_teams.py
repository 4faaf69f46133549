"""Issue #14 on Teams: an admin of tenant B, served by the same deployment, gives an account the
email of Test Trust's manager; Test Trust names its own tenant.  The activity carries a valid Bot
Framework token (Teams authentication on): the impostor is taken for someone the bot doesn't know,
exactly as a made-up person is, and nothing is kept for the account; the real manager, from the
named tenant, and Other Trust, naming no tenant, are answered as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.settings import Settings
from bot.words import NOT_KNOWN
from surveys.organisation import spec_from_yaml
from tests.fake_aad import FakeAzureAD
from tests.fake_teams import TENANT, Member
from tests.support import ORG_YAML, email
from tests.teams_support import (
    APP_ID,
    Teams,
    conversation_of,
    member,
    personal_message,
    running,
    stored,
)
from tests.test_teams import KeyServer, key_server, token
from tests.test_teams_tokens import SECRET, WatchedTeams, aad, connector

__all__ = ["aad", "connector", "key_server"]  # (fixtures used here)

ELSEWHERE = "tenant-b"  # served too: another organisation's tenant
BOUND_ORG = ORG_YAML.replace("name: Test Trust\n", f"name: Test Trust\nteams_tenants: [{TENANT}]\n")
OTHER_ORG = "name: Other Trust\nteams: [{name: Clinic, managers: [boss@other.nhs.uk]}]\n"
IMPOSTOR = Member("29:impostor", "aad-impostor", "Impostor", email("manager.a"))
MADE_UP = Member("29:made-up", "aad-made-up", "Made Up", "made.up@nowhere.nhs.uk")
OTHER_BOSS = Member("29:boss", "aad-boss", "Boss", "boss@other.nhs.uk")


@pytest.fixture
async def two_tenants(
    settings: Settings, connector: WatchedTeams, key_server: KeyServer, aad: FakeAzureAD
) -> AsyncIterator[tuple[Teams, KeyServer]]:
    for someone in (IMPOSTOR, MADE_UP, OTHER_BOSS, member("manager.a")):
        connector.add_member(someone)
    configured = {
        "microsoft_app_id": APP_ID,
        "microsoft_app_password": SECRET,
        "teams_openid_metadata_url": key_server.url,
        "teams_login_url": aad.authority,
        "teams_tenants_raw": f"{TENANT},{ELSEWHERE}",
    }
    async for teams in running(settings.model_copy(update=configured), connector):
        await teams.service.import_organisation(spec_from_yaml(BOUND_ORG))
        await teams.service.import_organisation(spec_from_yaml(OTHER_ORG))
        yield teams, key_server


async def said(world: tuple[Teams, KeyServer], who: Member, text: str, tenant: str) -> str:
    """What ``who`` reads after writing ``text`` in their 1:1 chat from ``tenant``, sent with a
    valid Bot Framework token."""
    teams, keys = world
    url = teams.fake.service_url
    activity: dict[str, Any] = personal_message(who, text, url)
    activity["channelData"] = {"tenant": {"id": tenant}}
    activity["conversation"]["tenantId"] = tenant
    headers = {"Authorization": f"Bearer {token(keys.trusted, 'trusted', url)}"}
    before = len(teams.fake.sent_texts(conversation_of(who)))
    response = await teams.post(activity, headers)
    assert response.status in {200, 201}
    return " ".join(teams.fake.sent_texts(conversation_of(who))[before:])


async def test_an_account_of_another_tenant_is_not_taken_for_the_managers_email(
    two_tenants: tuple[Teams, KeyServer],
) -> None:
    teams = two_tenants[0]
    made_up = await said(two_tenants, MADE_UP, "pulse trends Ward A", ELSEWHERE)
    assert NOT_KNOWN in made_up
    assert await said(two_tenants, IMPOSTOR, "pulse trends Ward A", ELSEWHERE) == made_up
    accounts = {getattr(row, "external_id", None) for row in await stored(teams.service)}
    assert IMPOSTOR.account not in accounts  # nothing kept as the manager's account

    real = await said(two_tenants, member("manager.a"), "pulse settings", TENANT)
    assert NOT_KNOWN not in real and "Ward A" in real
    other = await said(two_tenants, OTHER_BOSS, "pulse settings", ELSEWHERE)
    assert NOT_KNOWN not in other and "Clinic" in other
