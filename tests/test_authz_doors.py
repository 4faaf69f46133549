"""Every row of docs/security.md's "Who may do what" asked from a Slack workspace and a Teams
tenant that aren't served, whatever email their accounts carry: refused at the door (its column,
"another workspace or tenant"), with nothing stored, looked up or sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.settings import Settings
from tests.authz import (
    ABOVE,
    COLLEAGUE,
    DOOR,
    KUDOS_WORDS,
    OPERATOR_COMMANDS,
    PEOPLE,
    WARD,
    outcome,
    read_matrix,
    snapshot,
)
from tests.authz_slack import ELSEWHERE, IMPOSTOR, SERVED, SLACK, slash, ward_a_pulse
from tests.fake_teams import TENANT, FakeTeams, Member
from tests.slack_support import Slack
from tests.teams_support import activity, member, personal_message, running
from tests.test_teams_chat import execute

MATRIX = read_matrix()


async def test_every_row_from_another_slack_workspace_is_refused_at_the_door(
    slack_world: Slack,
) -> None:
    slack = slack_world
    slack.fake.add_user(IMPOSTOR, PEOPLE["team manager"].email, ELSEWHERE)
    world = await ward_a_pulse(slack)
    before, mark = await snapshot(slack.service.db), len(slack.fake.calls)
    for action, ask in SLACK.items():
        assert MATRIX.cells[action][DOOR] == "door"
        sent = await ask(world, IMPOSTOR, ELSEWHERE)
        for response in sent.responses:
            event = response.headers.get("X-Slack-No-Retry") == "1"
            assert response.status == 403 or (event and response.status == 200), action
    # a served request after them all: once it is answered, the refused ones had their chance
    member = PEOPLE["member"]
    assert outcome(await (await slash(world, member.slack, SERVED, "help")).read(), member) == (
        "help"
    )
    assert await snapshot(slack.service.db) == before
    called = [call for call in slack.fake.calls[mark:] if call.method != "response_url"]
    assert all(IMPOSTOR not in json.dumps(call.params) for call in called), called
    # the member's look-up, and the bot's own check of its token on its first request
    assert {call.method for call in called} <= {"users.info", "auth.test"}


TEAMS_WORDS = [
    "pulse help",
    "pulse",
    "pulse status",
    "pulse me nights",
    f"pulse trends {WARD}",
    f"pulse trends {ABOVE}",
    "pulse trends",
    f"pulse settings {WARD}",
    f"pulse settings {WARD} day fri",
    f"pulse send {WARD}",
    f"kudos @{COLLEAGUE} {KUDOS_WORDS} #teamwork",
    "home",
    *OPERATOR_COMMANDS,
]


@pytest.fixture
async def teams_world(settings: Settings, fake: FakeTeams) -> AsyncIterator[Any]:
    """Teams serving the organisation's own tenant only (authentication off on purpose)."""
    served = {"teams_auth": "off", "teams_tenants_raw": TENANT}
    async for teams in running(settings.model_copy(update=served), fake):
        yield teams


async def test_every_row_from_another_teams_tenant_is_refused_at_the_door(teams_world: Any) -> None:
    teams = teams_world
    service = teams.service
    await service.open_round(await service.team_named(WARD))
    await service.deliver_outbox()
    [card] = await service.pending_pulses("a1@trust.example")
    manager = member("manager.a")
    impostor = Member("29:impostor", "aad-impostor", "Manager A", manager.email)
    teams.fake.add_member(impostor)
    url = teams.fake.service_url
    answers = {f"q:{question.id}": "4" for question in card.questions}
    asked = [personal_message(impostor, text, url) for text in TEAMS_WORDS] + [
        execute(impostor, url, "pulse.open", {"round": card.round_id}),
        execute(impostor, url, "pulse.submit", {"round": card.round_id, **answers}),
        execute(impostor, url, "trends", {}),
        activity(impostor, url, type="message", value={"teampulse": "trends"}),
    ]
    before, mark = await snapshot(service.db), len(teams.fake.calls)
    for one in asked:
        one["channelData"] = {"tenant": {"id": "tenant-elsewhere"}}
        one["conversation"]["tenantId"] = "tenant-elsewhere"
        response = await teams.post(one)
        assert response.status == 403, (response.status, one.get("text") or one.get("value"))
    assert teams.fake.calls[mark:] == [] and await snapshot(service.db) == before
