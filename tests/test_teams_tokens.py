"""The bot's own Azure AD token: asked for once and reused by every reply and proactive send, and
asked for off the event loop.  The real server with an app id and secret, the channel's tokens
checked against a local key set, the Bot Connector faked (``tests/fake_teams.py``) and Azure AD's
token service faked over TLS (``tests/fake_aad.py``, ``TEAMPULSE_TEAMS_LOGIN_URL``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from adapters.teams import TeamsPlatform
from bot.platforms import IdentityRouter
from bot.settings import Settings
from tests import test_teams
from tests.fake_aad import FakeAzureAD
from tests.fake_teams import FakeTeams
from tests.teams_support import APP_ID, Teams, conversation_of, member, personal_message, running
from tests.test_teams import KeyServer, token

key_server = test_teams.key_server  # the channel's signing keys (a fixture)
SECRET = "not-a-real-password"


class WatchedTeams(FakeTeams):
    """The fake Bot Connector, also keeping the ``Authorization`` header of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.authorizations: list[str] = []

    def routes(self, app: web.Application) -> None:
        super().routes(app)

        @web.middleware
        async def watch(request: web.Request, handler: Any) -> web.StreamResponse:
            self.authorizations.append(request.headers.get("Authorization", ""))
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(watch)


@pytest.fixture
async def connector() -> AsyncIterator[WatchedTeams]:
    fake = WatchedTeams()
    await fake.start()
    for name in ("a1", "a2"):
        fake.add_member(member(name))
    yield fake
    await fake.stop()


@pytest.fixture
async def aad(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAzureAD]:
    fake = FakeAzureAD(APP_ID, SECRET)
    await fake.start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)  # (MSAL's requests trust the fake)
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(
    settings: Settings, connector: WatchedTeams, key_server: KeyServer, aad: FakeAzureAD
) -> AsyncIterator[Teams]:
    configured = {
        "microsoft_app_id": APP_ID,
        "microsoft_app_password": SECRET,
        "teams_openid_metadata_url": key_server.url,
        "teams_login_url": aad.authority,
    }
    async for teams in running(settings.model_copy(update=configured), connector):
        yield teams


def channel_headers(teams: Teams, keys: KeyServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(keys.trusted, 'trusted', teams.fake.service_url)}"}


def platform_of(teams: Teams) -> TeamsPlatform:
    router = teams.service.messenger
    assert isinstance(router, IdentityRouter)
    [platform] = router.platforms
    assert isinstance(platform, TeamsPlatform)
    return platform


async def test_replies_and_sends_in_a_row_share_one_token(
    bot: Teams, key_server: KeyServer, aad: FakeAzureAD
) -> None:
    a1, a2 = member("a1"), member("a2")
    for who in (a1, a2, a1):
        message = personal_message(who, "pulse help", bot.fake.service_url)
        response = await bot.post(message, channel_headers(bot, key_server))
        assert response.status == 201
    reference = {
        "bot": {"id": f"28:{APP_ID}"},
        "user": {"id": a2.account},
        "conversation": {"id": conversation_of(a2), "conversationType": "personal"},
        "channelId": "msteams",
        "serviceUrl": bot.fake.service_url,
    }
    await platform_of(bot).outbound.send(reference, {"type": "message", "text": "A proactive hi"})

    assert len(bot.fake.called("send", conversation=conversation_of(a1))) == 2
    assert len(bot.fake.called("send", conversation=conversation_of(a2))) == 2
    assert aad.tokens_issued == ["token-1"]
    assert isinstance(bot.fake, WatchedTeams)
    assert set(bot.fake.authorizations) == {"Bearer token-1"}


async def test_the_server_answers_others_while_azure_ad_is_slow(
    bot: Teams, key_server: KeyServer, aad: FakeAzureAD
) -> None:
    """While the bot waits for its token, the event loop serves on (the fake token service
    shares it: a blocking fetch would never be answered)."""
    aad.hold()
    message = personal_message(member("a1"), "pulse help", bot.fake.service_url)
    reply = asyncio.create_task(bot.post(message, channel_headers(bot, key_server)))
    await aad.wait_until(lambda: aad.held > 0)  # the bot is asking Azure AD now

    health = await bot.http.get(bot.url + "/healthz")
    assert health.status == 200
    assert not reply.done() and bot.fake.called("send") == []
    aad.release()

    assert (await reply).status == 201
    assert len(bot.fake.called("send", conversation=conversation_of(member("a1")))) == 1
    assert aad.tokens_issued == ["token-1"]


async def test_a_refused_secret_sends_nothing_and_is_asked_again_later(
    settings: Settings, connector: WatchedTeams, key_server: KeyServer, aad: FakeAzureAD
) -> None:
    """A wrong secret: Azure AD says no, no reply goes out without a token, and the next
    activity asks again (a refusal is not kept as if it were a token)."""
    configured = {
        "microsoft_app_id": APP_ID,
        "microsoft_app_password": "a-wrong-secret",
        "teams_openid_metadata_url": key_server.url,
        "teams_login_url": aad.authority,
    }
    async for teams in running(settings.model_copy(update=configured), connector):
        for _ in range(2):
            message = personal_message(member("a1"), "pulse help", connector.service_url)
            response = await teams.post(message, channel_headers(teams, key_server))
            assert response.status == 500  # (the bot could not answer; Teams may redeliver)
        assert connector.called("send") == []
        assert len(aad.refused()) == 2


async def test_a_token_accepted_once_is_not_accepted_for_another_service_url(
    bot: Teams, key_server: KeyServer
) -> None:
    """The check of a channel's token is kept while the token lasts, but only for the service
    URL (and channel) it was checked with."""
    headers = channel_headers(bot, key_server)
    message = personal_message(member("a1"), "pulse help", bot.fake.service_url)
    assert (await bot.post(message, headers)).status == 201
    elsewhere = personal_message(member("a1"), "pulse help", "https://evil.example/")
    assert (await bot.post(elsewhere, headers)).status == 401
    assert (await bot.post({**message, "id": "again"}, headers)).status == 201
    assert len(bot.fake.called("send")) == 2
