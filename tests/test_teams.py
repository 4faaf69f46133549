"""Microsoft Teams, first step: real Bot Framework activities POSTed to the real server's
``/api/messages``, the Bot Connector faked by a local HTTP server in the activities' ``serviceUrl``
(``tests/fake_teams.py``), and tokens checked against a locally served OpenID key set."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.teams.render import to_markdown
from bot.settings import Settings
from bot.views import KudosPost
from bot.words import NOT_KNOWN
from storage.models import InboundEvent
from tests.fake_teams import FakeTeams
from tests.openid_keys import jwks_key, served_keys
from tests.support import serve
from tests.teams_support import (
    APP_ID,
    STRANGER,
    Teams,
    conversation_of,
    member,
    personal_message,
    running,
    stored,
)


# -- with authentication off ---------------------------------------------------------------------
async def test_help_comes_back_in_the_personal_chat(teams: Teams) -> None:
    a1 = member("a1")
    response = await teams.say(a1, "pulse help")
    assert response.status == 201
    [text] = teams.fake.sent_texts(conversation_of(a1))
    assert "pulse status" in text and "kudos @name" in text
    [sent] = teams.fake.called("send")
    assert sent.params["activity"]["textFormat"] == "markdown"
    assert sent.params["activity"]["type"] == "message"


async def test_a_stranger_is_told_they_are_not_known(teams: Teams) -> None:
    await teams.say(STRANGER, "pulse status")
    [said] = teams.fake.sent_texts(conversation_of(STRANGER))
    assert NOT_KNOWN in said
    assert await stored(teams.service) == [
        row for row in await stored(teams.service) if isinstance(row, InboundEvent)
    ], "nothing is kept about someone outside the organisation"


async def test_status_lists_the_persons_teams(teams: Teams) -> None:
    await teams.say(member("a1"), "pulse status")
    [text] = teams.fake.sent_texts(conversation_of(member("a1")))
    assert "Your teams" in text and "Ward A" in text


async def test_the_email_is_looked_up_once_and_the_reference_kept(teams: Teams) -> None:
    a2 = member("a2")
    await teams.say(a2, "pulse help")
    await teams.say(a2, "pulse status")
    assert len(teams.fake.sent_texts(conversation_of(a2))) == 2
    [lookup] = teams.fake.called("get_member")
    assert lookup.params == {"conversation": conversation_of(a2), "member": a2.aad_object_id}
    recipient = await teams.service.identities.recipient(a2.email)
    assert recipient is not None
    assert await teams.service.identities.external_id("teams", recipient) == a2.account
    reference = (await teams.service.identities.reference("teams", recipient))["conversation"]
    assert reference["conversation"]["id"] == conversation_of(a2)
    assert reference["serviceUrl"] == teams.fake.service_url
    assert reference["user"]["id"] == a2.account


async def test_the_bots_mention_is_not_part_of_the_command(teams: Teams) -> None:
    a1 = member("a1")
    bot = {"id": f"28:{APP_ID}", "name": "teampulse"}
    mention = {"type": "mention", "text": "<at>teampulse</at>", "mentioned": bot}
    activity = personal_message(
        a1, "<at>teampulse</at> pulse status", teams.fake.service_url, entities=[mention]
    )
    await teams.post(activity)
    [text] = teams.fake.sent_texts(conversation_of(a1))
    assert "Your teams" in text


async def test_a_redelivered_activity_is_answered_once(teams: Teams) -> None:
    a1 = member("a1")
    activity = personal_message(a1, "pulse help", teams.fake.service_url)
    first = await teams.post(activity)
    again = await teams.post(activity)
    assert (first.status, again.status) == (201, 201)
    assert len(teams.fake.sent_texts(conversation_of(a1))) == 1


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2]",
        json.dumps({"text": "pulse help"}),
        json.dumps({"type": "message", "text": "pulse help"}),
        json.dumps({"type": "message", "id": "x", "from": "nobody", "text": "pulse help"}),
    ],
)
async def test_a_body_that_is_not_an_activity_gets_400(teams: Teams, body: str) -> None:
    response = await teams.post(body)
    assert response.status == 400
    assert (await response.text()).strip()
    assert teams.fake.calls == []


# -- with an app id: every request must carry a valid Bot Framework token -------------------------
@dataclass
class KeyServer:
    """Where the OpenID metadata is served (``tests/openid_keys.py``), and the key it trusts."""

    url: str
    trusted: rsa.RSAPrivateKey


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    trusted = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with served_keys([jwks_key(trusted, "trusted")]) as base:
        yield KeyServer(f"{base}/openid", trusted)


@pytest.fixture
async def secured(
    settings: Settings, fake: FakeTeams, key_server: KeyServer
) -> AsyncIterator[Teams]:
    credentials = {
        "microsoft_app_id": APP_ID,
        "microsoft_app_password": "not-a-real-password",
        "teams_openid_metadata_url": key_server.url,
    }
    async for teams in running(settings.model_copy(update=credentials), fake):
        yield teams


def token(key: rsa.RSAPrivateKey, kid: str, service_url: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://api.botframework.com",
        "aud": APP_ID,
        "serviceurl": service_url,
        "nbf": now - 60,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


async def test_without_an_app_id_and_auth_on_teams_is_not_served(settings: Settings) -> None:
    assert not settings.teams_configured


async def test_requests_without_a_valid_token_get_401_and_change_nothing(
    secured: Teams, key_server: KeyServer
) -> None:
    url = secured.fake.service_url
    stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    trusted = key_server.trusted
    headers: dict[str, dict[str, str]] = {
        "no header": {},
        "not a bearer": {"Authorization": "Basic YWJjOmRlZg=="},
        "malformed bearer": {"Authorization": "Bearer abc"},
        "unknown key": {"Authorization": f"Bearer {token(stranger_key, 'nobody', url)}"},
        "forged key id": {"Authorization": f"Bearer {token(stranger_key, 'trusted', url)}"},
        "expired": {
            "Authorization": f"Bearer {token(trusted, 'trusted', url, exp=int(time.time()) - 900)}"
        },
        "other audience": {"Authorization": f"Bearer {token(trusted, 'trusted', url, aud='x')}"},
        "other service url": {
            "Authorization": f"Bearer {token(trusted, 'trusted', 'https://evil.example/')}"
        },
    }
    for case, header in headers.items():
        response = await secured.post(personal_message(member("a1"), "pulse help", url), header)
        assert response.status == 401, case
    assert secured.fake.calls == []
    assert await stored(secured.service) == []


async def test_a_valid_token_is_accepted(secured: Teams, key_server: KeyServer) -> None:
    """The refusals above are not a blanket 401: the channel's own token passes.  (An activity
    the bot does not answer yet, so no reply needs the app's own Azure AD token.)"""
    url = secured.fake.service_url
    activity = {**personal_message(member("a1"), "", url), "type": "conversationUpdate"}
    header = {"Authorization": f"Bearer {token(key_server.trusted, 'trusted', url)}"}
    response = await secured.post(activity, header)
    assert response.status == 201


async def test_without_an_app_id_the_route_answers_nobody(
    settings: Settings, fake: FakeTeams
) -> None:
    """Authentication on (the default) and no app id: Teams is not connected, and an activity
    POSTed anyway reaches nothing."""
    server = await serve(settings)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            activity = personal_message(member("a1"), "pulse help", fake.service_url)
            response = await http.post(server.url + "/api/messages", json=activity)
            assert response.status in {401, 404, 405}
    finally:
        await server.runner.cleanup()
    assert fake.calls == []


def test_words_people_wrote_cannot_become_links_or_formatting() -> None:
    post = KudosPost(
        giver="Ann",
        recipients=("Bo",),
        message="[urgent](https://evil.example) **read** <at>everyone</at>",
        value="teamwork",
        value_label="Teamwork",
        teams=("Ward A",),
        day="2026-11-30",
    )
    text = to_markdown(post)
    assert "\\[urgent\\]\\(https://evil.example)" in text
    assert "\\*\\*read\\*\\*" in text and "\\<at\\>" in text


async def test_a_trend_report_arrives_as_a_readable_card(teams: Teams) -> None:
    manager = member("manager.a")
    await teams.say(manager, "pulse trends")
    [text] = teams.fake.sent_texts(conversation_of(manager))
    assert text.startswith("Trends: Ward A")
    assert "Not enough answers yet" in text
