"""Issue #14: an admin of one served workspace gives an account the email of another
organisation's manager.  Two organisations on one deployment, both workspaces installed; Test
Trust names the workspace its people come from, Other Trust names none.  The impostor is taken
for someone the bot doesn't know (the very reply a made-up person gets), nothing is kept for their
account, and no pulse of the real person reaches them; the real manager, and the organisation
naming no workspace, work as before.  (Teams: ``tests/test_org_binding_teams.py``.)"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from bot.bindings import STRANGER
from bot.server import SERVICE
from bot.settings import Settings
from bot.words import NOT_KNOWN
from storage.models import PlatformIdentity
from surveys.organisation import OrgError, spec_from_yaml
from tests.slack_support import ORG, Slack, dm_message, event_callback, over_oauth, texts
from tests.support import email, serve
from tests.test_slack_workspaces import FIRST, SECOND, install

BOUND_ORG = ORG.replace("name: Test Trust\n", f"name: Test Trust\nslack_workspaces: [{FIRST}]\n")
OTHER_ORG = """
name: Other Trust
teams:
  - name: Clinic
    managers: [boss@other.nhs.uk]
"""
PEOPLE = {  # Slack user id -> (workspace, email)
    "UREALMGR": (FIRST, email("manager.a")),
    "UIMPOSTOR": (SECOND, email("manager.a")),  # workspace B's admin gave it Test Trust's email
    "UMADEUP": (SECOND, "made.up@nowhere.nhs.uk"),
    "UOTHERBOSS": (SECOND, "boss@other.nhs.uk"),
}


@pytest.fixture
async def two_orgs(settings: Settings) -> AsyncIterator[Slack]:
    users = {user: (address, team) for user, (team, address) in PEOPLE.items()}
    organisations = (BOUND_ORG, OTHER_ORG)
    async with over_oauth(
        settings, workspaces=f"{FIRST},{SECOND}", users=users, organisations=organisations
    ) as slack:
        await install(slack, "code-first", FIRST)
        await install(slack, "code-second", SECOND)
        yield slack


async def reply_to(slack: Slack, user: str, text: str) -> str:
    """What ``user`` reads in their DM after writing ``text`` there (a signed event from their
    own workspace, through the real server)."""
    team = PEOPLE[user][0]
    body = event_callback(dm_message(user, text), f"Ev{user}{len(slack.fake.calls)}", team)
    assert (await slack.post(json.dumps(body), "application/json")).status == 200
    [posted] = await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == f"D{user}"
    )
    slack.fake.calls.remove(posted)
    return texts(posted.params.get("blocks")) + " " + str(posted.params.get("text") or "")


async def accounts_kept(slack: Slack) -> set[str]:
    async with slack.service.db.session() as session:
        rows = await session.exec(select(PlatformIdentity.external_id))
        return set(rows.all())


async def test_an_account_of_another_workspace_is_not_taken_for_the_managers_email(
    two_orgs: Slack,
) -> None:
    slack = two_orgs
    made_up = await reply_to(slack, "UMADEUP", "pulse trends Ward A")
    assert NOT_KNOWN in made_up
    impostor = await reply_to(slack, "UIMPOSTOR", "pulse trends Ward A")
    assert impostor == made_up  # exactly an unknown person: nothing of Ward A revealed
    assert await reply_to(slack, "UIMPOSTOR", "pulse settings") == await reply_to(
        slack, "UMADEUP", "pulse settings"
    )
    assert "UIMPOSTOR" not in await accounts_kept(slack)  # nor kept as the manager's account

    real = await reply_to(slack, "UREALMGR", "pulse settings")  # the manager, from workspace A
    assert NOT_KNOWN not in real and "Ward A" in real
    assert "UREALMGR" in await accounts_kept(slack)
    # the organisation naming no workspace works as before
    other = await reply_to(slack, "UOTHERBOSS", "pulse settings")
    assert NOT_KNOWN not in other and "Clinic" in other


async def test_a_pulse_of_the_real_person_never_goes_to_the_impostors_account(
    two_orgs: Slack,
) -> None:
    """Ward A's a0 has no Slack account yet (nor written to the bot): a send looks them up in the
    installed workspaces, and workspace B's directory has an account carrying their email.
    Only workspace A is asked; a0's pulse waits in the outbox."""
    slack, service = two_orgs, two_orgs.service
    slack.fake.add_user("UIMPOSTORA0", email("a0"), SECOND)
    await service.open_round(await service.team_named("Ward A"))
    await service.deliver_outbox()
    calls = [*slack.fake.called("conversations.open"), *slack.fake.called("chat.postMessage")]
    to_impostor = [
        c
        for c in calls
        if c.params.get("users") == "UIMPOSTORA0" or c.params.get("channel") == "DUIMPOSTORA0"
    ]
    assert to_impostor == []
    assert "UIMPOSTORA0" not in await accounts_kept(slack)


def test_the_organisation_file_names_workspaces_and_tenants() -> None:
    spec = spec_from_yaml(
        "name: X\nslack_workspaces: [T0123, E0456, T0123]\n"
        "teams_tenants: [72f988bf-86f1-41af-91ab-2d7cd011db47]\n"
        "teams: [{name: A, members: [a@x.nhs.uk]}]\n"
    )
    assert spec.slack_workspaces == ["T0123", "E0456"]
    assert spec.teams_tenants == ["72f988bf-86f1-41af-91ab-2d7cd011db47"]
    with pytest.raises(OrgError, match="not a workspace or tenant id"):
        spec_from_yaml(
            "slack_workspaces: ['T0 <!channel>']\nteams: [{name: A, members: [a@x.nhs.uk]}]\n"
        )
    with pytest.raises(OrgError, match="reserved"):  # the address refused accounts are known by
        spec_from_yaml(f"teams: [{{name: A, members: [{STRANGER}]}}]\n")


async def test_serve_warns_when_an_organisation_of_several_names_no_workspace(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.cli")
    first = await serve(settings)  # local mode: the demo organisation, alone
    await first.runner.cleanup()
    assert not [r for r in caplog.records if "slack_workspaces" in r.getMessage()]

    service = first.app[SERVICE]
    await service.import_organisation(spec_from_yaml(BOUND_ORG))  # a second, naming its own
    again = await serve(settings)
    await again.runner.cleanup()
    [warning] = [r.getMessage() for r in caplog.records if "slack_workspaces" in r.getMessage()]
    assert "Test Trust" not in warning and "can act as their people" in warning


async def test_an_import_applies_at_once_and_a_file_leaving_the_key_out_keeps_it(
    two_orgs: Slack,
) -> None:
    slack, service = two_orgs, two_orgs.service
    assert "Clinic" in await reply_to(slack, "UOTHERBOSS", "pulse settings")  # names none
    # Other Trust now names workspace A only: its manager's account in B is no one, at once
    await service.import_organisation(
        spec_from_yaml(OTHER_ORG.replace("teams:", f"slack_workspaces: [{FIRST}]\nteams:"))
    )
    assert NOT_KNOWN in await reply_to(slack, "UOTHERBOSS", "pulse settings")
    await service.import_organisation(spec_from_yaml(OTHER_ORG))  # the key left out: kept
    assert NOT_KNOWN in await reply_to(slack, "UOTHERBOSS", "pulse settings")
    cleared = OTHER_ORG.replace("teams:", "slack_workspaces: []\nteams:")
    await service.import_organisation(spec_from_yaml(cleared))
    assert "Clinic" in await reply_to(slack, "UOTHERBOSS", "pulse settings")
