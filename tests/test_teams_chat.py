"""Microsoft Teams as a person uses it: installed, answering a pulse on its Adaptive Card (an
``Action.Execute`` invoke POSTed to the real server), the home card, and what an install or an
uninstall keeps.  The Bot Connector is the local fake in the activities' ``serviceUrl``."""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select

from bot.service import TeamPulse
from storage.models import ConversationReference, PlatformIdentity, Response
from tests.fake_teams import Member
from tests.teams_support import Teams, activity, conversation_of, member, personal_message

CARD = "application/vnd.microsoft.card.adaptive"


def installed(who: Member, service_url: str, action: str = "add") -> dict[str, Any]:
    return activity(who, service_url, type="installationUpdate", action=action)


def execute(who: Member, service_url: str, verb: str, data: dict[str, Any]) -> dict[str, Any]:
    """An ``Action.Execute`` click: Teams merges the card's inputs into the action's data."""
    action = {"type": "Action.Execute", "verb": verb, "data": data}
    value = {"action": action, "trigger": "manual"}
    return activity(who, service_url, type="invoke", name="adaptiveCard/action", value=value)


def cards_sent(teams: Teams, conversation: str) -> list[dict[str, Any]]:
    found = []
    for call in teams.fake.called("send", conversation=conversation):
        for attachment in call.params["activity"].get("attachments") or []:
            if attachment.get("contentType") == CARD:
                found.append(attachment["content"])
    return found


def walk(element: Any) -> list[dict[str, Any]]:
    """Every element of a card, depth first."""
    if isinstance(element, list):
        return [found for item in element for found in walk(item)]
    if not isinstance(element, dict):
        return []
    found = [element]
    for value in element.values():
        found += walk(value)
    return found


def texts(card: dict[str, Any]) -> str:
    return " ".join(str(e.get("text", "")) for e in walk(card) if e.get("type") == "TextBlock")


def submit_action(card: dict[str, Any]) -> dict[str, Any]:
    [action] = [e for e in walk(card) if e.get("verb") == "pulse.submit"]
    return action


async def responses(service: TeamPulse) -> int:
    async with service.db.session() as session:
        return int((await session.exec(select(func.count()).select_from(Response))).one())


async def person_rows(service: TeamPulse) -> list[Any]:
    async with service.db.session() as session:
        rows: list[Any] = []
        for model in (PlatformIdentity, ConversationReference):
            rows += [row.model_dump() for row in (await session.exec(select(model))).all()]
        return rows


async def open_pulse(teams: Teams, who: Member) -> dict[str, Any]:
    """A round opened for Ward A, and the person's pulse card asked for in their chat."""
    ward = await teams.service.team_named("Ward A")
    await teams.service.open_round(ward)
    await teams.say(who, "pulse")
    [card] = cards_sent(teams, conversation_of(who))
    return card


# -- install and home ----------------------------------------------------------------------------
async def test_a_personal_install_welcomes_once_with_the_home_card(teams: Teams) -> None:
    a1 = member("a1")
    activity = installed(a1, teams.fake.service_url)
    assert (await teams.post(activity)).status == 201
    assert (await teams.post(activity)).status == 201  # Teams delivered it again
    [welcome] = teams.fake.sent_texts(conversation_of(a1))[:1]
    assert "anonymous" in welcome
    [home] = cards_sent(teams, conversation_of(a1))
    assert a1.name.split()[0] in texts(home) or "home" in texts(home).lower()
    recipient = await teams.service.identities.recipient(a1.email)
    assert recipient is not None
    stored = await teams.service.identities.reference("teams", recipient)
    assert stored["conversation"]["conversation"]["id"] == conversation_of(a1)


async def test_uninstalling_drops_the_personal_chat(teams: Teams) -> None:
    a1 = member("a1")
    await teams.post(installed(a1, teams.fake.service_url))
    await teams.post(installed(a1, teams.fake.service_url, action="remove"))
    recipient = await teams.service.identities.recipient(a1.email)
    assert recipient is not None
    stored = await teams.service.identities.reference("teams", recipient)
    assert "conversation" not in stored or stored["conversation"] is None
    assert stored["account"] == a1.account  # who they are stays known


async def test_home_shows_a_manager_the_trends_button_and_it_sends_the_report(
    teams: Teams,
) -> None:
    manager = member("manager.a")
    await teams.say(manager, "home")
    [home] = cards_sent(teams, conversation_of(manager))
    [trends] = [e for e in walk(home) if e.get("verb") == "trends"]
    response = await teams.post(
        execute(manager, teams.fake.service_url, "trends", trends.get("data", {}))
    )
    assert response.status == 200
    answer = await response.json()
    assert answer["type"] == CARD and answer["value"]["type"] == "AdaptiveCard"
    report = cards_sent(teams, conversation_of(manager))[-1]
    assert "Ward A" in texts(report)


# -- the pulse card ------------------------------------------------------------------------------
async def test_a_pulse_answered_on_its_card_is_stored_and_the_card_becomes_a_receipt(
    teams: Teams,
) -> None:
    a1 = member("a1")
    await teams.say(a1, "pulse help")  # (known from here on, as after an install)
    card = await open_pulse(teams, a1)
    action = submit_action(card)
    assert action["type"] == "Action.Execute"
    assert action["fallback"]["type"] == "Action.Submit"
    choices = [e for e in walk(card) if e.get("type") == "Input.ChoiceSet" and e["id"] != "about"]
    inputs = {choice["id"]: "4" for choice in choices}
    before = await person_rows(teams.service)

    data = {**action["data"], **inputs, "comment": "Rotas are fairer now", "about": "general"}
    response = await teams.post(execute(a1, teams.fake.service_url, "pulse.submit", data))

    assert response.status == 200
    answer = await response.json()
    assert answer["statusCode"] == 200 and answer["type"] == CARD
    receipt = texts(answer["value"])
    assert "Rotas" not in receipt and "Agree" not in receipt
    assert await responses(teams.service) == len(choices)
    assert await person_rows(teams.service) == before, "the pulse's path names nobody"

    again = await teams.post(execute(a1, teams.fake.service_url, "pulse.submit", data))
    assert again.status == 200  # a double click: recorded once
    assert await responses(teams.service) == len(choices)


async def test_a_card_with_a_statement_left_out_comes_back_with_the_problem_beside_it(
    teams: Teams,
) -> None:
    a2 = member("a2")
    await teams.say(a2, "pulse help")
    card = await open_pulse(teams, a2)
    action = submit_action(card)
    choices = [e for e in walk(card) if e.get("type") == "Input.ChoiceSet" and e["id"] != "about"]
    _, *rest = [choice["id"] for choice in choices]
    data = {**action["data"], **{key: "5" for key in rest}, "comment": "Kind words"}

    response = await teams.post(execute(a2, teams.fake.service_url, "pulse.submit", data))

    answer = await response.json()
    shown = answer["value"]
    kept = {e["id"]: e.get("value") for e in walk(shown) if e.get("id") in rest}
    assert kept == {key: "5" for key in rest}, "what was chosen is kept"
    marked = [e for e in walk(shown) if str(e.get("color")).lower() == "attention"]
    assert marked, "the problem is shown"
    assert await responses(teams.service) == 0


async def test_odd_invokes_get_a_4xx_or_a_notice_never_a_5xx(teams: Teams) -> None:
    a1 = member("a1")
    url = teams.fake.service_url
    other = activity(a1, url, type="invoke", name="task/fetch", value={})
    assert (await teams.post(other)).status == 400
    for data in ({"form": "{not json"}, {"form": '{"round": 10000000000000000000000}'}, {}):
        response = await teams.post(execute(a1, url, "pulse.submit", data))
        assert response.status == 200
        assert (await response.json())["type"] == CARD
    junk = activity(a1, url, type="invoke", name="adaptiveCard/action", value=["x"])
    assert (await teams.post(junk)).status in {200, 400}
    assert await responses(teams.service) == 0


async def test_an_info_reply_stays_a_markdown_message(teams: Teams) -> None:
    a1 = member("a1")
    await teams.post(personal_message(a1, "pulse status", teams.fake.service_url))
    [sent] = teams.fake.called("send", conversation=conversation_of(a1))
    assert sent.params["activity"]["textFormat"] == "markdown"
