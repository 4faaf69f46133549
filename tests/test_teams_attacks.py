"""Attacks on the Teams adapter, each as Teams-shaped activities POSTed to the real server (the
Bot Connector is the local fake): forged, replayed and concurrent card data, cards clicked and
replies asked for where others see them, what the pulse's path writes and logs, and other
organisations and tenants.  What a sender's client writes is attacked in
``tests/test_teams_attack_input.py``."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from adapters.teams.card_actions import PERSONAL_ONLY
from adapters.teams.cards import card_for
from bot.settings import Settings
from storage.models import Membership, Person, PlatformPlace, Team
from surveys.organisation import spec_from_yaml
from tests.fake_teams import TENANT, FakeTeams, Member, card_texts
from tests.support import email
from tests.teams_support import (
    APP_ID,
    Teams,
    conversation_of,
    member,
    personal_message,
    running,
    stored,
)
from tests.test_teams_chat import (
    execute,
    open_pulse,
    person_rows,
    responses,
    submit_action,
    texts,
    walk,
)

BOT = {"id": f"28:{APP_ID}", "name": "teampulse"}
GROUP_CHAT = "19:group-chat-a@thread.v2"
TEAM_ID = "19:team-ward-a@thread.tacv2"
_ids = itertools.count(1)
PERSONAL_ONLY_SHOWN = f"⚠️ {PERSONAL_ONLY}"

OTHER_ORG = f"""
name: Other Trust
teams:
  - name: Ward Z
    managers: [{email("manager.z")}]
    members: [{", ".join(email(f"z{i}") for i in range(6))}]
"""


def in_group_chat(activity: dict[str, Any]) -> dict[str, Any]:
    """The same activity, in a group chat several people see."""
    conversation = {"id": GROUP_CHAT, "conversationType": "groupChat", "tenantId": TENANT}
    return {**activity, "conversation": conversation}


def in_channel(activity: dict[str, Any]) -> dict[str, Any]:
    """The same activity, in a channel of a Teams team."""
    conversation = {
        "id": f"{TEAM_ID};messageid=17{next(_ids)}",
        "conversationType": "channel",
        "isGroup": True,
        "tenantId": TENANT,
    }
    channel_data = {
        "team": {"id": TEAM_ID, "name": "Ward A team"},
        "channel": {"id": TEAM_ID},
        "tenant": {"id": TENANT},
    }
    return {**activity, "conversation": conversation, "channelData": channel_data}


def answers_for(card: dict[str, Any], score: str = "4") -> dict[str, Any]:
    choices = [e for e in walk(card) if e.get("type") == "Input.ChoiceSet" and e["id"] != "about"]
    return {choice["id"]: score for choice in choices}


def shown_elsewhere(teams: Teams, conversation: str) -> list[str]:
    """What every message the bot sent or replaced outside ``conversation`` shows."""
    return [
        " ".join(card_texts(call.params["activity"].get("attachments")))
        or str(call.params["activity"].get("text"))
        for call in teams.fake.calls
        if call.method in {"send", "update"} and call.params.get("conversation") != conversation
    ]


async def known(teams: Teams, *who: Member) -> None:
    for person in who:
        teams.fake.add_member(person)
        await teams.say(person, "pulse help")


# -- cards clicked where others see them ---------------------------------------------------------
async def test_a_pulse_refused_in_a_group_chat_never_shows_the_chosen_answers_there(
    teams: Teams,
) -> None:
    a1 = member("a1")
    await known(teams, a1)
    card = await open_pulse(teams, a1)
    _, *rest = answers_for(card, "1")
    data = {**submit_action(card)["data"], **{key: "1" for key in rest}, "comment": "Bullied"}
    clicked = in_group_chat(execute(a1, teams.fake.service_url, "pulse.submit", data))

    response = await teams.post(clicked)

    assert response.status == 200
    shown = (await response.json())["value"]
    assert not any(e.get("value") == "1" for e in walk(shown)), "no score shown to the chat"
    assert "Bullied" not in json.dumps(shown)
    assert await responses(teams.service) == 0
    assert texts(shown) == PERSONAL_ONLY_SHOWN


async def test_a_pulse_card_submitted_in_a_group_chat_is_not_recorded_there(teams: Teams) -> None:
    a1 = member("a1")
    await known(teams, a1)
    card = await open_pulse(teams, a1)
    data = {**submit_action(card)["data"], **answers_for(card), "about": "general"}
    clicked = in_group_chat(execute(a1, teams.fake.service_url, "pulse.submit", data))
    response = await teams.post(clicked)
    assert response.status == 200
    assert await responses(teams.service) == 0, "answered only in the personal chat"


async def test_trends_clicked_in_a_channel_go_nowhere_but_the_personal_chat(teams: Teams) -> None:
    manager = member("manager.a")
    await known(teams, manager)
    value = {"teampulse": "trends"}
    for build in (in_channel, in_group_chat):
        clicked = build(personal_message(manager, "", teams.fake.service_url, value=value))
        assert (await teams.post(clicked)).status == 201
        invoke = build(execute(manager, teams.fake.service_url, "trends", value))
        assert (await teams.post(invoke)).status == 200
    elsewhere = shown_elsewhere(teams, conversation_of(manager))
    assert elsewhere == [PERSONAL_ONLY_SHOWN] * 2, "only the notice, in the channel and the chat"


async def test_the_pulse_card_opened_in_a_channel_is_not_posted_there(teams: Teams) -> None:
    a1 = member("a1")
    await known(teams, a1)
    card = await open_pulse(teams, a1)
    form = json.loads(submit_action(card)["data"]["form"])
    value = {"teampulse": "open", "round": form["round"]}
    clicked = in_channel(personal_message(a1, "", teams.fake.service_url, value=value))
    assert (await teams.post(clicked)).status == 201
    assert shown_elsewhere(teams, conversation_of(a1)) == [PERSONAL_ONLY_SHOWN]


async def test_a_card_submitted_in_a_channel_replaces_none_of_the_bots_messages_there(
    teams: Teams,
) -> None:
    a1 = member("a1")
    await known(teams, a1)
    value = {"teampulse": "trends"}
    clicked = in_channel(personal_message(a1, "", teams.fake.service_url, value=value))
    clicked["replyToId"] = "1732900000000"  # (a kudos celebration the bot posted there, say)
    assert (await teams.post(clicked)).status == 201
    assert [call for call in teams.fake.calls if call.method == "update"] == []
    assert shown_elsewhere(teams, conversation_of(a1)) == [PERSONAL_ONLY_SHOWN]


# -- forged and replayed card data ---------------------------------------------------------------
async def test_a_round_of_another_team_or_organisation_takes_no_answer(teams: Teams) -> None:
    await teams.service.import_organisation(spec_from_yaml(OTHER_ORG))
    a1, b1, z1 = member("a1"), member("b1"), member("z1")
    await known(teams, a1, b1, z1)
    card = await open_pulse(teams, a1)  # Ward A's round, a1's card
    data = {**submit_action(card)["data"], **answers_for(card), "about": "general"}
    await teams.service.open_round(await teams.service.team_named("Ward Z", "Other Trust"))
    for outsider in (b1, z1):  # another team of the trust, another organisation
        response = await teams.post(execute(outsider, teams.fake.service_url, "pulse.submit", data))
        assert response.status == 200
        assert "Thank" not in texts((await response.json())["value"])
    assert await responses(teams.service) == 0


async def test_the_same_card_clicked_twice_at_once_is_recorded_once(teams: Teams) -> None:
    a1 = member("a1")
    await known(teams, a1)
    card = await open_pulse(teams, a1)
    data = {**submit_action(card)["data"], **answers_for(card), "about": "general"}
    clicks = [execute(a1, teams.fake.service_url, "pulse.submit", data) for _ in range(4)]
    found = await asyncio.gather(*(teams.post(click) for click in clicks))
    assert [response.status for response in found] == [200] * 4
    assert await responses(teams.service) == len(answers_for(card))


@pytest.mark.parametrize("score", ["0", "6", "-1", "4.0", " 4", "", None, True, [4], {"x": 4}])
async def test_answers_outside_one_to_five_are_not_stored(teams: Teams, score: Any) -> None:
    a1 = member("a1")
    await known(teams, a1)
    card = await open_pulse(teams, a1)
    data = {**submit_action(card)["data"], **{k: score for k in answers_for(card)}}
    response = await teams.post(execute(a1, teams.fake.service_url, "pulse.submit", data))
    assert response.status == 200
    assert await responses(teams.service) == 0


async def test_a_stale_form_naming_other_statements_takes_no_answer(teams: Teams) -> None:
    a1 = member("a1")
    await known(teams, a1)
    card = await open_pulse(teams, a1)
    form = json.loads(submit_action(card)["data"]["form"])
    form["questions"] = ["made_up", *form["questions"][1:]]
    data = {"teampulse": "pulse", "form": json.dumps(form), "q:made_up": "5"}
    data |= {key: "5" for key in answers_for(card)}
    response = await teams.post(execute(a1, teams.fake.service_url, "pulse.submit", data))
    assert response.status == 200
    assert await responses(teams.service) == 0


async def test_a_round_of_another_team_is_not_opened(teams: Teams) -> None:
    a1 = member("a1")
    await known(teams, a1)
    await teams.service.open_round(await teams.service.team_named("Ward B"))
    [card] = await teams.service.pending_pulses(member("b1").email)
    value = {"teampulse": "open", "round": card.round_id}
    response = await teams.post(execute(a1, teams.fake.service_url, "pulse.open", value))
    shown = (await response.json())["value"]
    assert response.status == 200 and submit_actions(shown) == []


async def test_a_comment_too_long_or_about_no_statement_of_the_card_is_not_stored(
    teams: Teams,
) -> None:
    a1 = member("a1")
    await known(teams, a1)
    card = await open_pulse(teams, a1)
    data = {**submit_action(card)["data"], **answers_for(card)}
    for odd in ({"comment": "x" * 100_000}, {"comment": "Rota", "about": "q:made_up"}):
        response = await teams.post(execute(a1, teams.fake.service_url, "pulse.submit", data | odd))
        assert response.status == 200
        assert "Thank" not in texts((await response.json())["value"])
    assert await responses(teams.service) == 0


def submit_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in walk(card) if e.get("verb") == "pulse.submit"]


# -- private replies asked for in a group chat ---------------------------------------------------
@pytest.mark.parametrize("text", ["pulse", "pulse trends", "pulse status", "kudos @nobody hi #x"])
async def test_a_reply_asked_for_in_a_group_chat_goes_to_the_personal_chat(
    teams: Teams, text: str
) -> None:
    manager = member("manager.a")
    await known(teams, manager)
    await teams.service.open_round(await teams.service.team_named("Ward A"))
    asked = in_group_chat(personal_message(manager, text, teams.fake.service_url))
    assert (await teams.post(asked)).status == 201
    assert teams.fake.sent_texts(GROUP_CHAT) == ["I've answered you in our personal chat."]


async def test_the_places_kept_for_a_team_name_nobody_who_spoke_there(teams: Teams) -> None:
    a1, manager = member("a1"), member("manager.a")
    await known(teams, a1)
    added = in_channel(personal_message(manager, "", teams.fake.service_url))
    added |= {"type": "conversationUpdate", "membersAdded": [{"id": BOT["id"]}]}
    assert (await teams.post(added)).status == 201
    spoken = in_channel(personal_message(a1, "pulse status", teams.fake.service_url))
    assert (await teams.post(spoken)).status == 201
    async with teams.service.db.session() as session:
        places = json.dumps([row.data for row in (await session.exec(select(PlatformPlace)))])
    assert TEAM_ID in places
    for who in (a1, manager):
        for trace in (who.account, who.aad_object_id, who.name):
            assert trace not in places


# -- what the pulse's path writes ----------------------------------------------------------------
async def person_linked(teams: Teams) -> list[Any]:
    async with teams.service.db.session() as session:
        places = [row.model_dump() for row in (await session.exec(select(PlatformPlace))).all()]
    inbound = [row.model_dump() for row in await stored(teams.service)]
    return [*await person_rows(teams.service), *places, *inbound]


@pytest.mark.parametrize("fallback", [False, True], ids=["Action.Execute", "Action.Submit"])
@pytest.mark.parametrize("seen", [False, True], ids=["new to the process", "known"])
async def test_a_pulse_submitted_writes_and_logs_nobody(
    teams: Teams, caplog: pytest.LogCaptureFixture, fallback: bool, seen: bool
) -> None:
    a3 = member("a3")
    teams.fake.add_member(a3)
    if seen:
        await teams.say(a3, "pulse help")
    await teams.service.open_round(await teams.service.team_named("Ward A"))
    [card] = await teams.service.pending_pulses(a3.email)
    shown = card_for(card) or {}
    data = {**submit_action(shown)["data"], **answers_for(shown), "about": "general"}
    url = teams.fake.service_url
    submit = (
        personal_message(a3, "", url, value=data)
        if fallback
        else execute(a3, url, "pulse.submit", data)
    )
    before = await person_linked(teams)
    caplog.clear()

    assert (await teams.post(submit)).status < 300

    assert await responses(teams.service) == len(answers_for(shown))
    assert await person_linked(teams) == before
    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    for trace in (a3.email, a3.account, a3.aad_object_id, conversation_of(a3)):
        assert trace not in logged


# -- other organisations and tenants -------------------------------------------------------------
async def test_kudos_to_someone_in_another_organisation_reach_nobody_there(teams: Teams) -> None:
    await teams.service.import_organisation(spec_from_yaml(OTHER_ORG))
    a1, z1 = member("a1"), member("z1")
    await known(teams, a1, z1)
    at_z1 = {"type": "mention", "text": "<at>Zed</at>", "mentioned": {"id": z1.account}}
    text = "kudos <at>Zed</at> thanks for the cover #teamwork"
    activity = personal_message(a1, text, teams.fake.service_url, entities=[at_z1])
    assert (await teams.post(activity)).status == 201
    assert not any("the cover" in said for said in teams.fake.sent_texts(conversation_of(z1)))
    assert "thanks for the cover" not in " ".join(shown_elsewhere(teams, conversation_of(a1)))


async def test_a_manager_gets_nothing_of_another_organisations_team(teams: Teams) -> None:
    await teams.service.import_organisation(spec_from_yaml(OTHER_ORG))
    manager, z1 = member("manager.a"), member("z1")
    await known(teams, manager, z1)
    teams.fake.rosters[TEAM_ID] = [manager, z1, member("a1")]
    url = teams.fake.service_url
    for text in ("pulse trends Ward Z", "settings Ward Z sync", "pulse settings Ward Z"):
        assert (await teams.post(in_channel(personal_message(manager, text, url)))).status == 201
    said = teams.fake.sent_texts(conversation_of(manager))[-3:]
    assert all("I don't know a team called “Ward Z”" in line for line in said), said
    assert await team_members(teams, "Ward Z") == {member(f"z{n}").email for n in range(6)}

    synced = in_channel(personal_message(manager, "settings Ward A sync", url))
    assert (await teams.post(synced)).status == 201
    assert await team_members(teams, "Ward A") == {member("a1").email}, "no one of Other Trust"


async def team_members(teams: Teams, name: str) -> set[str]:
    async with teams.service.db.session() as session:
        query = (
            select(Person.email)
            .join(Membership, col(Membership.person_id) == col(Person.id))
            .join(Team, col(Team.id) == col(Membership.team_id))
            .where(Team.name == name, Membership.role == "member")
        )
        return set((await session.exec(query)).all())


@pytest.fixture
async def one_tenant(settings: Settings, fake: FakeTeams) -> AsyncIterator[Teams]:
    """The server serving the organisation's own tenant only (authentication off on purpose)."""
    served = {"teams_auth": "off", "teams_tenants_raw": f" {TENANT} ,"}
    async for teams in running(settings.model_copy(update=served), fake):
        yield teams


async def test_an_account_of_another_tenant_claiming_a_managers_email_gets_nothing(
    one_tenant: Teams,
) -> None:
    """Another Microsoft 365 tenant can add the bot and give its own accounts any ``mail``."""
    teams, manager = one_tenant, member("manager.a")
    impostor = Member("29:impostor", "aad-impostor", "Manager A", manager.email)
    teams.fake.add_member(impostor)
    asked = personal_message(impostor, "pulse trends", teams.fake.service_url)
    asked["channelData"] = {"tenant": {"id": "tenant-elsewhere"}}
    asked["conversation"]["tenantId"] = "tenant-elsewhere"
    untold = {**asked, "channelData": {}, "conversation": {"id": "a:x"}}
    installed = in_channel(personal_message(impostor, "", teams.fake.service_url))
    installed |= {"type": "conversationUpdate", "membersAdded": [{"id": BOT["id"]}]}
    installed["channelData"]["tenant"] = {"id": "tenant-elsewhere"}

    for activity in (asked, untold, installed):
        response = await teams.post(activity)
        assert response.status == 403 and "tenant" in await response.text()
    assert teams.fake.calls == [] and await person_linked(teams) == []

    assert (await teams.say(manager, "pulse trends")).status == 201  # the tenant served
    assert "Ward A" in teams.fake.sent_texts(conversation_of(manager))[-1]
