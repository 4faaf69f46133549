"""Team names: unique within an organisation (case and spacing ignored), and how an operator, who
has no organisation of their own, names a team on the command line (``--org``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.conversation import Conversation
from bot.settings import Settings
from bot.views import TextReply
from storage.engine import Database
from storage.models import Membership, Organisation, PulseRound, Role, Team
from surveys.organisation import OrgError, import_spec, spec_from_csv, spec_from_yaml
from tests.support import ORG_YAML, email, make_service
from tests.test_cli import teampulse
from tests.test_team_isolation import OTHER_YAML

# -- the organisation file ------------------------------------------------------------------------


def test_a_yaml_file_with_two_teams_differing_by_case_and_spacing_is_refused() -> None:
    text = """\
teams:
  - name: Ward A
    members: [sam.okafor@trust.nhs.uk]
  - name: Ward B
    members: [ann.jones@trust.nhs.uk]
  - name: "ward  a"
    members: [tom.brown@trust.nhs.uk]
"""
    with pytest.raises(OrgError) as excinfo:
        spec_from_yaml(text)
    assert excinfo.value.errors == [
        "line 6: team 'ward  a': another team is already called 'Ward A' (line 2)"
    ]


def test_a_csv_file_with_two_teams_differing_by_case_and_spacing_is_refused() -> None:
    text = (
        "email,team,parent_team,role\n"
        "sam.okafor@trust.nhs.uk,Ward A,,member\n"
        "ann.jones@trust.nhs.uk,Ward B,,member\n"
        "tom.brown@trust.nhs.uk,WARD  A,,manager\n"
    )
    with pytest.raises(OrgError) as excinfo:
        spec_from_csv(text)
    assert excinfo.value.errors == [
        "line 4: team 'WARD  A': another team is already called 'Ward A' (line 2)"
    ]


async def test_a_reimport_spelling_a_team_differently_renames_it_in_place(db: Database) -> None:
    """Not a second team beside the first: the organisation still has one Ward A."""
    async with db.session() as session:
        await import_spec(session, spec_from_yaml(ORG_YAML))
    respelled = ORG_YAML.replace("- name: Ward A\n", "- name: ward   A\n")
    async with db.session() as session:
        await import_spec(session, spec_from_yaml(respelled))
    async with db.session() as session:
        names = sorted((await session.exec(select(Team.name))).all())
        assert names == ["Medicine", "Tiny", "Ward B", "ward   A"]


# -- the command line -----------------------------------------------------------------------------


async def _two_organisations(database_url: str, tmp_path: Path) -> None:
    for name, text in (("test.yaml", ORG_YAML), ("other.yaml", OTHER_YAML)):
        (tmp_path / name).write_text(text)
        imported = await teampulse(database_url, "org", "import", str(tmp_path / name))
        assert imported.exit_code == 0, imported.output


async def test_a_team_name_used_in_two_organisations_needs_org(
    database_url: str, tmp_path: Path
) -> None:
    await _two_organisations(database_url, tmp_path)
    for command in (("pulse", "send"), ("pulse", "close"), ("export",)):
        refused = await teampulse(database_url, *command, "--team", "Ward A")
        assert refused.exit_code == 1, refused.output
        assert refused.output == (
            "Error: Teams called “Ward A” are in several organisations: Other Trust, Test Trust. "
            "Say which with --org NAME.\n"
        )
    status = await teampulse(database_url, "pulse", "status")
    assert status.output.splitlines() == [
        "No pulse is open.",
        "Outbox: 0 pending, 0 in flight, 0 sent, 0 retrying, 0 failed",
    ]

    sent = await teampulse(database_url, "pulse", "send", "--team", "ward a", "--org", "test trust")
    assert sent.exit_code == 0 and "for Ward A: 12 people will be asked" in sent.output
    other = await teampulse(
        database_url, "pulse", "close", "--team", "WARD A", "--org", "Other Trust"
    )
    assert other.exit_code == 1 and other.output == "Error: ward a has no open pulse.\n"
    status = await teampulse(database_url, "pulse", "status")
    assert status.output.startswith("Ward A: pulse #1") and "12 invited" in status.output
    closed = await teampulse(
        database_url, "pulse", "close", "--team", "Ward A", "--org", "Test Trust"
    )
    assert closed.exit_code == 0 and "Closed pulse #1 for Ward A" in closed.output


async def test_a_name_used_in_one_organisation_needs_no_org(
    database_url: str, tmp_path: Path
) -> None:
    """The contract ``teampulse pulse send --team NAME`` stands when NAME is unambiguous."""
    await _two_organisations(database_url, tmp_path)
    sent = await teampulse(database_url, "pulse", "send", "--team", "theatres")
    assert sent.exit_code == 0 and "for Theatres: 5 people will be asked" in sent.output
    exported = await teampulse(database_url, "export", "--team", "Ward B")
    assert exported.exit_code == 0 and exported.output.startswith("team,week,theme")


async def test_unknown_teams_and_organisations_are_clear_errors(
    database_url: str, tmp_path: Path
) -> None:
    await _two_organisations(database_url, tmp_path)
    unknown = await teampulse(database_url, "pulse", "send", "--team", "Ward Z")
    assert unknown.exit_code == 1 and unknown.output == "Error: There is no team called “Ward Z”.\n"
    elsewhere = await teampulse(
        database_url, "pulse", "send", "--team", "Theatres", "--org", "Test Trust"
    )
    assert elsewhere.exit_code == 1
    assert elsewhere.output == "Error: There is no team called “Theatres” in Test Trust.\n"
    no_org = await teampulse(database_url, "export", "--team", "Ward A", "--org", "Nowhere")
    assert no_org.exit_code == 1 and no_org.output == (
        "Error: There is no organisation called “Nowhere” "
        "(organisations: Other Trust, Test Trust).\n"
    )
    for result in (unknown, elsewhere, no_org):
        assert "Traceback" not in result.output


# -- a database from before names were unique by case ----------------------------------------------


async def test_teams_stored_differing_only_by_case_are_told_apart_by_spelling(
    db: Database, settings: Settings
) -> None:
    """A Test Trust database holding "Ward A" and "ward a" (written before the import refused
    that), both managed by manager.a: the exact spelling picks one; any other gets "which team?"."""
    service, _ = await make_service(db, settings)
    async with db.session() as session:
        org = (await session.exec(select(Organisation))).one()
        manager = (await service.person(session, email("manager.a"))).id
        assert org.id is not None and manager is not None
        twin = Team(organisation_id=org.id, name="ward a")
        session.add(twin)
        await session.flush()
        assert twin.id is not None
        session.add(Membership(team_id=twin.id, person_id=manager, role=Role.MANAGER))
        session.add(Membership(team_id=twin.id, person_id=manager, role=Role.MEMBER))
        await session.commit()
        twin_id = twin.id
    chat = Conversation(service)

    [which] = await chat.handle(email("manager.a"), "pulse send WARD A")
    assert isinstance(which, TextReply) and which.text.startswith(
        "Which team? Several of your teams are called “WARD A”: write the name as shown here. "
        "Your teams: Ward A, ward a."
    )
    [sent] = await chat.handle(email("manager.a"), "pulse send ward a")
    assert isinstance(sent, TextReply) and "for ward a: 1 people" in sent.text
    async with db.session() as session:
        opened = (await session.exec(select(col(PulseRound.team_id)))).all()
    assert opened == [twin_id]
