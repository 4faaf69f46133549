"""``POST /api/messages`` fuzzed with the channel's valid token on every request (authentication
on, the real server, the Bot Connector and Azure AD faked): real activities mutated (a message,
a card's submit invoke, members added, an install) and any JSON.  Never a 5xx; a refused request
changes nothing in the database; a real message is still answered after."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests import test_teams_tokens
from tests.fuzz_support import JSON_VALUES, changed, dump, dumps, mutated, settled
from tests.teams_support import APP_ID, Teams, activity, member, personal_message
from tests.test_teams import KeyServer, token

FUZZ = settings.get_profile(os.environ.get("TEAMPULSE_FUZZ_PROFILE", "fuzz-ci"))
# the secured server and what it needs (fixtures)
bot = test_teams_tokens.bot
aad = test_teams_tokens.aad
connector = test_teams_tokens.connector
key_server = test_teams_tokens.key_server

A1 = member("a1")


def activities(service_url: str) -> list[dict[str, Any]]:
    bot_account = {"id": f"28:{APP_ID}", "name": "teampulse"}
    return [
        personal_message(A1, "pulse help", service_url),
        activity(
            A1,
            service_url,
            type="invoke",
            name="adaptiveCard/action",
            value={
                "action": {"type": "Action.Execute", "verb": "pulse", "data": {"round": 1}},
                "trigger": "manual",
            },
        ),
        activity(A1, service_url, type="conversationUpdate", membersAdded=[bot_account]),
        activity(A1, service_url, type="installationUpdate", action="add"),
        personal_message(A1, "", service_url, value={"teampulse": "open", "round": 1}),
    ]


async def post(teams: Teams, body: str, keys: KeyServer) -> tuple[int, str]:
    header = {"Authorization": f"Bearer {token(keys.trusted, 'trusted', teams.fake.service_url)}"}
    response = await teams.post(body, header)
    return response.status, await response.text()


@FUZZ
@given(data=st.data())
async def test_activities_with_a_valid_token_never_get_a_5xx(
    bot: Teams, key_server: KeyServer, data: st.DataObject
) -> None:
    base = st.sampled_from(activities(bot.fake.service_url))
    body = data.draw(st.one_of(base.flatmap(mutated), JSON_VALUES))
    before = await dump(bot.service.db.engine)
    status, reply = await settled(post(bot, dumps(body), key_server))
    assert status < 500, (status, reply[:300])
    if status >= 400:
        assert changed(before, await dump(bot.service.db.engine)) == [], (status, reply[:300])


async def test_after_odd_activities_a_real_message_is_answered(
    bot: Teams, key_server: KeyServer
) -> None:
    for odd in ("[" * 50_000, '{"type": "message", "text": "\\ud800"}', "x" * 200_000):
        status, _ = await post(bot, odd, key_server)
        assert 400 <= status < 500
    status, _ = await post(bot, dumps(activities(bot.fake.service_url)[0]), key_server)
    assert status == 201


async def test_what_the_fuzz_found_is_a_400_that_changes_nothing(
    bot: Teams, key_server: KeyServer
) -> None:
    """Found by the fuzz: ``channelData: null`` crashed botbuilder's member look-up, and an id
    holding a URL delimiter sent the reply to a path the Bot Connector doesn't have (500s)."""
    url = bot.fake.service_url
    found = [
        personal_message(A1, "pulse help", url, channelData=None),
        activity(A1, url, type="installationUpdate", action="add", id="../../x"),
        personal_message(A1, "pulse help", url, replyToId="1?x=2"),
        personal_message(A1, "pulse help", url, replyToId=".."),
        activity(A1, url, type="installationUpdate", action="add", id=[{"x": "1700000000004"}]),
        {**personal_message(A1, "pulse", url), "from": {"id": "29:a1", "aadObjectId": 0}},
        {
            **personal_message(A1, "pulse", url),
            "conversation": {"id": "a:\U000dc403", "tenantId": "t"},
        },
        {**personal_message(A1, "pulse", url), "conversation": {"id": "a:b c", "tenantId": "t"}},
    ]
    for odd in found:
        before = await dump(bot.service.db.engine)
        status, reply = await settled(post(bot, dumps(odd), key_server))
        assert status == 400, (status, reply)
        assert changed(before, await dump(bot.service.db.engine)) == []
