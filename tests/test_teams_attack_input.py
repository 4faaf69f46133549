"""Attacks on the Teams adapter through what a sender's client writes, each as Teams-shaped
activities POSTed to the real server (the Bot Connector is the local fake): odd and hostile JSON,
forged ``<at>`` mention entities, and names other people chose shown in someone's chat."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jwt
import pytest

from adapters.teams.activity import MAX_MENTIONS
from storage.models import InboundEvent
from tests import test_teams
from tests.card_check import check
from tests.fake_teams import card_texts
from tests.teams_support import Teams, conversation_of, member, personal_message, stored
from tests.test_teams_attacks import TEAM_ID, in_channel, known


# -- odd and hostile JSON ------------------------------------------------------------------------
def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_deeply_nested_json_gets_a_400_not_a_500(teams: Teams) -> None:
    a1 = member("a1")
    base = json.dumps(personal_message(a1, "pulse help", teams.fake.service_url))
    deep = base[:-1] + f', "value": {nested(100_000)}}}'
    response = await teams.post(deep)
    assert 400 <= response.status < 500


@pytest.mark.parametrize(
    "change",
    [
        {"entities": [1, "x", None, {"type": "mention"}]},
        {"entities": {"type": "mention"}},
        {"membersAdded": [1, "x", None, {"id": 5}]},
        {"timestamp": "yesterday"},
        {"from": ["29:a1"]},
        {"from": {"id": 5}},
        {"recipient": None},
        {"conversation": "a:personal"},
        {"conversation": {"id": ["x"]}},
        {"channelData": "tenant"},
        {"channelData": {"tenant": "x", "team": ["y"], "channel": 5}},
        {"attachments": [{"contentType": 5, "content": nested(50)}]},
        {"value": nested(500)},
        {"value": {"teampulse": "pulse", "form": {"round": 1}}},
        {"value": {"teampulse": "open", "round": 10**30}},
        {"value": {"teampulse": "open", "round": -1}},
        {"text": "x" * 200_000},
        {"serviceUrl": 5},
        {"serviceUrl": "not a url"},
        {"replyToId": {"id": 1}},
        {"locale": 7},
    ],
)
async def test_odd_fields_get_a_4xx_or_are_handled_never_a_5xx(
    teams: Teams, change: dict[str, Any]
) -> None:
    a1 = member("a1")
    for kind in ("message", "invoke", "conversationUpdate", "installationUpdate"):
        activity = {
            **personal_message(a1, "pulse help", teams.fake.service_url),
            "type": kind,
            "name": "adaptiveCard/action",
            "action": "add",
            **change,
        }
        response = await teams.post(activity)
        assert response.status < 500, (kind, change, await response.text())


# -- mentions ------------------------------------------------------------------------------------
async def test_a_mention_entity_that_is_no_at_tag_rewrites_nothing(teams: Teams) -> None:
    a1, a2 = member("a1"), member("a2")
    await known(teams, a1, a2)
    forged = {"type": "mention", "text": "status", "mentioned": {"id": a2.account, "name": "x"}}
    activity = personal_message(a1, "pulse status", teams.fake.service_url, entities=[forged])
    assert (await teams.post(activity)).status == 201
    said = teams.fake.sent_texts(conversation_of(a1))[-1]
    assert "Your teams" in said, said


async def test_a_message_of_unclosed_at_tags_is_answered_at_once(teams: Teams) -> None:
    """Each ``<at>`` that is never closed made the mention reader scan the rest of the message:
    one message of 60,000 held the server's only thread for minutes, everyone's requests too."""
    a1 = member("a1")
    await known(teams, a1)
    hostile = personal_message(a1, "kudos " + "<at>" * 60_000, teams.fake.service_url)
    response = await asyncio.wait_for(teams.post(hostile), timeout=20)  # (seconds, not minutes)
    assert response.status == 201
    assert (await teams.say(a1, "pulse status")).status == 201


async def test_a_message_the_bot_connector_failed_on_is_answered_when_delivered_again(
    teams: Teams,
) -> None:
    a1 = member("a1")
    teams.fake.error_next("get_member", 429)  # (throttled, no Retry-After: no retry in the SDK)
    activity = personal_message(a1, "pulse help", teams.fake.service_url)
    failed = await teams.post(activity)
    assert failed.status == 503 and "again" in await failed.text()
    assert (await teams.post(activity)).status == 201  # Teams delivers it again
    assert (await teams.post(activity)).status == 201  # and again: answered once
    [said] = teams.fake.sent_texts(conversation_of(a1))
    assert "pulse status" in said


# -- hostile names -------------------------------------------------------------------------------
async def test_a_teams_team_name_is_shown_inert_to_the_manager(teams: Teams) -> None:
    manager, a1 = member("manager.a"), member("a1")
    await known(teams, manager, a1)
    teams.fake.rosters[TEAM_ID] = [a1, manager]
    activity = in_channel(personal_message(manager, "settings Ward A sync", teams.fake.service_url))
    activity["channelData"]["team"]["name"] = "[Reset your password](https://evil.example)"
    assert (await teams.post(activity)).status == 201
    said = teams.fake.called("send", conversation=conversation_of(manager))[-1]
    activity = said.params["activity"]
    texts = [t for item in activity.get("attachments") or [] for t in card_texts(item["content"])]
    shown = json.dumps([activity.get("text", ""), *texts])
    assert "Reset your password" in shown
    assert "](https://evil.example)" not in shown and "](" not in shown.replace("\\\\](", "")
    for html in check([], texts)["markdown"]:  # as a Teams client renders the card's Markdown
        assert "<a " not in html and "Reset your password" in html


async def test_a_message_full_of_mentions_asks_teams_about_a_few_accounts_only(
    teams: Teams,
) -> None:
    a1 = member("a1")
    await known(teams, a1)
    many = [
        {"type": "mention", "text": f"<at>P{n}</at>", "mentioned": {"id": f"29:nobody-{n}"}}
        for n in range(400)
    ]
    repeated = [{**many[0], "text": "<at>Again</at>"}] * 400
    for entities in (many, repeated):
        text = "kudos " + " ".join(str(entity["text"]) for entity in entities) + " thanks #teamwork"
        lookups = member_lookups(teams)
        activity = personal_message(a1, text, teams.fake.service_url, entities=entities)
        assert (await teams.post(activity)).status == 201
        assert member_lookups(teams) - lookups <= MAX_MENTIONS


def member_lookups(teams: Teams) -> int:
    """Every member lookup the bot made, answered or not."""
    return sum(call.method == "get_member" for call in teams.fake.calls)


# -- with authentication on ----------------------------------------------------------------------
key_server, secured = test_teams.key_server, test_teams.secured  # (the fixtures)


async def test_a_token_that_names_no_service_url_or_another_gets_401_and_reaches_nobody(
    secured: Teams, key_server: test_teams.KeyServer
) -> None:
    """The bot's own token would go to the activity's ``serviceUrl``: the channel's token must
    name that very address (a token taken from one request, replayed with an address the
    attacker chose, or a token that names none)."""
    elsewhere = "http://127.0.0.1:9/"
    genuine = test_teams.token(key_server.trusted, "trusted", secured.fake.service_url)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    del claims["serviceurl"]
    unnamed = jwt.encode(claims, key_server.trusted, algorithm="RS256", headers={"kid": "trusted"})
    for signed in (genuine, unnamed):
        activity = personal_message(member("a1"), "pulse help", elsewhere)
        response = await secured.post(activity, {"Authorization": f"Bearer {signed}"})
        assert response.status == 401
    assert secured.fake.calls == []


# -- activity ids --------------------------------------------------------------------------------
async def test_two_peoples_messages_of_the_same_millisecond_are_both_answered_once(
    teams: Teams,
) -> None:
    """Teams' message id is the message's time in milliseconds, unique within its conversation
    only."""
    a1, a2 = member("a1"), member("a2")
    for who in (a1, a2, a1):
        activity = personal_message(who, "pulse help", teams.fake.service_url)
        assert (await teams.post({**activity, "id": "1732912345678"})).status == 201
    assert len(teams.fake.sent_texts(conversation_of(a1))) == 1, "a redelivery: answered once"
    assert len(teams.fake.sent_texts(conversation_of(a2))) == 1
    events = [row for row in await stored(teams.service) if isinstance(row, InboundEvent)]
    kept = json.dumps([row.model_dump(mode="json") for row in events])
    assert len(events) == 2 and conversation_of(a1) not in kept and a1.account not in kept
