"""Teams beyond the personal chat: the bot installed in a team, kudos with ``<at>`` mentions in a
channel, a team's roster kept in step, and the ``Action.Submit`` fallback of older clients.  Real
activities into the real server; the Bot Connector is the local fake."""

from __future__ import annotations

import itertools
from typing import Any

from sqlmodel import select

from adapters.teams import references
from bot.identities import Identities
from storage.models import Membership, Person, Recognition, Team
from tests import test_teams_delivery as delivery
from tests.fake_teams import TENANT, Member
from tests.test_teams import APP_ID, conversation_of, member, personal_message
from tests.test_teams_chat import CARD, cards_sent, submit_action, walk

fake, teams = delivery.fake, delivery.teams  # (the fixtures: Ward T, its channel, the fake)
Teams = delivery.Teams
TEAM_ID, CHANNEL = delivery.TEAM_ID, delivery.CHANNEL
BOT = {"id": f"28:{APP_ID}", "name": "teampulse"}
_ids = itertools.count(1)


def in_channel(who: Member, text: str, service_url: str, **more: Any) -> dict[str, Any]:
    """A message in Ward T's Teams channel, the bot ``@mentioned`` (as Teams sends it)."""
    mentions = [{"type": "mention", "text": "<at>teampulse</at>", "mentioned": BOT}]
    mentions += more.pop("mentions", [])
    return {
        **personal_message(who, f"<at>teampulse</at> {text}", service_url),
        "id": f"c:{next(_ids)}",
        "conversation": {
            "id": f"{CHANNEL};messageid=17{next(_ids)}",
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TENANT,
        },
        "channelData": {
            "team": {"id": TEAM_ID, "name": "Ward T team"},
            "channel": {"id": CHANNEL},
            "tenant": {"id": TENANT},
        },
        "entities": mentions,
        **more,
    }


def mention(who: Member, shown_as: str) -> dict[str, Any]:
    """An ``<at>`` mention as Teams writes it: the display name, which needn't be anything
    like the email; only the account id says who it is."""
    return {
        "type": "mention",
        "text": f"<at>{shown_as}</at>",
        "mentioned": {"id": who.account, "name": shown_as},
    }


def team_event(event: str, service_url: str, **more: Any) -> dict[str, Any]:
    """A ``conversationUpdate`` in Ward T's team (the bot added, a channel made, people …)."""
    return {
        "type": "conversationUpdate",
        "id": f"u:{next(_ids)}",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": "29:someone-admin"},
        "recipient": BOT,
        "conversation": {"id": TEAM_ID, "conversationType": "channel", "tenantId": TENANT},
        "channelData": {
            "team": {"id": TEAM_ID, "name": "Ward T team"},
            "eventType": event,
            "tenant": {"id": TENANT},
            **more.pop("channel_data", {}),
        },
        **more,
    }


async def post(teams: Teams, activity: dict[str, Any]) -> int:
    response = await teams.http.post(teams.server.url + "/api/messages", json=activity)
    await response.read()
    return response.status


async def members_of(teams: Teams, team_name: str) -> set[str]:
    async with teams.service.db.session() as session:
        query = (
            select(Person.email)
            .join(Membership, Membership.person_id == Person.id)  # type: ignore[arg-type]
            .join(Team, Team.id == Membership.team_id)  # type: ignore[arg-type]
            .where(Team.name == team_name, Membership.role == "member")
        )
        return set((await session.exec(query)).all())


async def kudos_count(teams: Teams) -> int:
    async with teams.service.db.session() as session:
        return len((await session.exec(select(Recognition))).all())


async def installed_in_team(teams: Teams) -> None:
    """The bot added to Ward T's Teams team, then the celebration channel created there."""
    url = teams.fake.service_url
    added = team_event("teamMemberAdded", url, membersAdded=[{"id": BOT["id"]}])
    assert await post(teams, added) == 201
    created = team_event("channelCreated", url, channel_data={"channel": {"id": CHANNEL}})
    assert await post(teams, created) == 201


# -- installed in a team -------------------------------------------------------------------------
async def test_installed_in_a_team_its_channels_are_kept_and_kudos_reach_them(
    teams: Teams,
) -> None:
    await installed_in_team(teams)
    places = teams.service.places
    assert await references.channel_team(places, CHANNEL) == TEAM_ID
    assert await references.tenant_service_url(places, TENANT) == teams.fake.service_url
    t0 = member("t0")
    await teams.say(t0, "kudos @t1 thanks for the handover #teamwork")
    [post_] = teams.fake.sent_texts(CHANNEL)
    assert "thanks for the handover" in post_


async def test_removed_from_a_team_no_kudos_are_posted_there(teams: Teams) -> None:
    await installed_in_team(teams)
    removed = team_event("teamMemberRemoved", teams.fake.service_url)
    removed["membersRemoved"] = [{"id": BOT["id"]}]
    assert await post(teams, removed) == 201
    assert await references.channel_reference(teams.service.places, CHANNEL) is None
    await teams.say(member("t0"), "kudos @t1 thanks #teamwork")
    assert teams.fake.sent_texts(CHANNEL) == []
    assert await kudos_count(teams) == 1  # the kudos itself is kept


# -- kudos in a channel --------------------------------------------------------------------------
async def test_kudos_in_a_channel_with_at_mentions_are_celebrated_and_answered_privately(
    teams: Teams,
) -> None:
    await installed_in_team(teams)
    t0, t1 = member("t0"), member("t1")
    await teams.say(t0, "pulse help")  # both have a 1:1 chat with the bot
    await teams.say(t1, "pulse help")
    text = "kudos <at>Tess Jones</at> for staying late with a patient #compassion"
    activity = in_channel(t0, text, teams.fake.service_url, mentions=[mention(t1, "Tess Jones")])

    assert await post(teams, activity) == 201

    assert await kudos_count(teams) == 1
    [celebration] = teams.fake.sent_texts(CHANNEL)[:1]
    assert "for staying late with a patient" in celebration and "T1" in celebration
    channel_thread = activity["conversation"]["id"]
    assert teams.fake.sent_texts(channel_thread) == ["I've answered you in our personal chat."]
    assert "staying late" in teams.fake.sent_texts(conversation_of(t0))[-1]  # the giver
    assert "staying late" in teams.fake.sent_texts(conversation_of(t1))[-1]  # the one thanked


async def test_a_private_reply_asked_for_in_a_channel_never_shows_there(teams: Teams) -> None:
    manager = member("manager.t")
    await teams.say(manager, "pulse help")
    activity = in_channel(manager, "pulse trends", teams.fake.service_url)
    assert await post(teams, activity) == 201
    thread = activity["conversation"]["id"]
    assert teams.fake.sent_texts(thread) == ["I've answered you in our personal chat."]
    assert "Ward T" in teams.fake.sent_texts(conversation_of(manager))[-1]


async def test_someone_the_bot_cannot_reach_privately_is_told_so_not_answered_in_public(
    teams: Teams,
) -> None:
    t2 = member("t2")
    teams.fake.uninstall(t2.account)  # no 1:1 chat, and none can be opened
    activity = in_channel(t2, "pulse status", teams.fake.service_url)
    assert await post(teams, activity) == 201
    [said] = teams.fake.sent_texts(activity["conversation"]["id"])
    assert "couldn't reach you in a personal chat" in said
    assert "Ward T" not in said


# -- a team's roster -----------------------------------------------------------------------------
async def test_a_manager_keeps_a_team_in_step_with_its_teams_roster(teams: Teams) -> None:
    fake = teams.fake
    manager, t0, t1, t2 = (member(name) for name in ("manager.t", "t0", "t1", "t2"))
    fake.rosters[TEAM_ID] = [t0, t1, manager]
    await teams.say(manager, "pulse help")

    activity = in_channel(manager, "settings Ward T sync", fake.service_url)
    assert await post(teams, activity) == 201

    assert await members_of(teams, "Ward T") == {t0.email, t1.email}
    assert "in step with Ward T team" in fake.sent_texts(conversation_of(manager))[-1]
    identities: Identities = teams.service.identities
    assert await identities.email_of("teams", t1.account) == t1.email  # reachable from now on
    recipient = await identities.recipient(t1.email)
    assert recipient is not None
    kept = await identities.reference("teams", recipient)
    assert kept[references.ACCOUNT] == t1.account
    assert kept[references.SERVICE_URL] == fake.service_url

    fake.rosters[TEAM_ID] = [t0, t1, t2, manager]  # t2 joins the Teams team
    joined = team_event("teamMemberAdded", fake.service_url, membersAdded=[{"id": t2.account}])
    await installed_in_team(teams)  # (the team is known to the bot)
    assert await post(teams, joined) == 201
    assert await members_of(teams, "Ward T") == {t0.email, t1.email, t2.email}


async def test_only_a_manager_may_tie_a_team_to_a_roster(teams: Teams) -> None:
    fake, t0 = teams.fake, member("t0")
    fake.rosters[TEAM_ID] = [t0]
    await teams.say(t0, "pulse help")
    assert await post(teams, in_channel(t0, "settings Ward T sync", fake.service_url)) == 201
    assert await members_of(teams, "Ward T") == {member(n).email for n in ("t0", "t1", "t2")}
    assert fake.called("paged_members") == []


async def test_sync_asked_for_in_a_personal_chat_says_where_to_ask(teams: Teams) -> None:
    manager = member("manager.t")
    await teams.say(manager, "settings Ward T sync")
    assert "channel of the Teams team" in teams.fake.sent_texts(conversation_of(manager))[-1]


# -- the Action.Submit fallback ------------------------------------------------------------------
async def test_an_older_client_submits_the_card_and_its_message_becomes_the_receipt(
    teams: Teams,
) -> None:
    t0 = member("t0")
    await teams.say(t0, "pulse help")
    await teams.service.open_round(await teams.service.team_named("Ward T"))
    await teams.say(t0, "pulse")
    [card] = cards_sent_to(teams, t0)
    fallback = submit_action(card)["fallback"]
    assert fallback["type"] == "Action.Submit"
    choices = [e["id"] for e in walk(card) if e.get("type") == "Input.ChoiceSet"]
    inputs = {key: "3" for key in choices if key != "about"}
    [sent] = teams.fake.called("send", conversation=conversation_of(t0))[-1:]
    value = {**fallback["data"], **inputs, "about": "general"}
    submit = personal_message(t0, "", teams.fake.service_url, value=value)
    submit["replyToId"] = sent.answer["id"]

    assert await post(teams, submit) == 201

    [update] = teams.fake.called("update", conversation=conversation_of(t0))
    assert update.params["message"] == sent.answer["id"]
    [attachment] = update.params["activity"]["attachments"]
    assert attachment["contentType"] == CARD


def cards_sent_to(teams: Teams, who: Member) -> list[dict[str, Any]]:
    return cards_sent(teams, conversation_of(who))  # type: ignore[arg-type]
