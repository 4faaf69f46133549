"""Importing the organisation file (YAML or CSV) into a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from storage.engine import Database, is_sqlite
from storage.models import Membership, Organisation, Person, Question, Team
from surveys.bank import load_bank
from surveys.organisation import (
    ImportSummary,
    OrgError,
    OrgSpec,
    import_spec,
    load_file,
    spec_from_csv,
    spec_from_yaml,
)

ORG_YAML = """\
teams:
  - name: Trust
  - name: Surgery
    parent: Trust
    managers: [dr.lee@trust.nhs.uk]
  - name: Ward 9
    parent: Surgery
    managers: [Ann.Jones@trust.nhs.uk]
    members:
      - sam.okafor@trust.nhs.uk
      - priya.shah@trust.nhs.uk
      - tom.brown@trust.nhs.uk
    channel: {slack: C0WARD9, teams: "19:ward9@thread.tacv2"}
    schedule: {cadence: fortnightly, day: Thursday, time: 9:30, timezone: Europe/London}
    questions_per_pulse: 4
  - name: Theatres
    parent: Surgery
    managers: [dr.lee@trust.nhs.uk]
    members: [jo.smith@trust.nhs.uk, ali.khan@trust.nhs.uk]
people:
  - {email: dr.lee@trust.nhs.uk, name: Dr Mei Lee}
"""

ORG_CSV = """\
email,team,parent_team,role,name
dr.lee@trust.nhs.uk,Surgery,Trust,manager,Dr Mei Lee
ann.jones@trust.nhs.uk,Ward 9,Surgery,manager,
sam.okafor@trust.nhs.uk,Ward 9,Surgery,member,
priya.shah@trust.nhs.uk,Ward 9,,member,
tom.brown@trust.nhs.uk,Ward 9,Surgery,member,
dr.lee@trust.nhs.uk,Theatres,Surgery,manager,
jo.smith@trust.nhs.uk,Theatres,Surgery,member,
ali.khan@trust.nhs.uk,Theatres,Surgery,member,
"""

# What a user sees after importing either form: (team, parent) and (team, email, role).
HIERARCHY = {("Trust", None), ("Surgery", "Trust"), ("Ward 9", "Surgery"), ("Theatres", "Surgery")}
MEMBERSHIPS = {
    ("Surgery", "dr.lee@trust.nhs.uk", "manager"),
    ("Ward 9", "ann.jones@trust.nhs.uk", "manager"),
    ("Ward 9", "sam.okafor@trust.nhs.uk", "member"),
    ("Ward 9", "priya.shah@trust.nhs.uk", "member"),
    ("Ward 9", "tom.brown@trust.nhs.uk", "member"),
    ("Theatres", "dr.lee@trust.nhs.uk", "manager"),
    ("Theatres", "jo.smith@trust.nhs.uk", "member"),
    ("Theatres", "ali.khan@trust.nhs.uk", "member"),
}


async def _import(db: Database, spec: OrgSpec, *, is_demo: bool = False) -> ImportSummary:
    async with db.session() as session:
        return await import_spec(session, spec, is_demo=is_demo)


async def _snapshot(db: Database) -> dict[str, Any]:
    """Everything an import writes, by name rather than by id."""
    async with db.session() as session:
        orgs = {o.id: o for o in (await session.exec(select(Organisation))).all()}
        teams = {t.id: t for t in (await session.exec(select(Team))).all()}
        people = {p.id: p for p in (await session.exec(select(Person))).all()}
        links = (await session.exec(select(Membership))).all()
        questions = (await session.exec(select(Question))).all()
    return {
        "orgs": {(o.name, o.is_demo) for o in orgs.values()},
        "teams": {
            (
                orgs[t.organisation_id].name,
                t.name,
                teams[t.parent_id].name if t.parent_id else None,
                t.slack_channel,
                t.teams_channel,
                t.cadence,
                t.schedule_day,
                t.schedule_time,
                t.timezone,
                t.questions_per_pulse,
            )
            for t in teams.values()
        },
        "people": {
            (p.email, p.display_name, orgs[p.organisation_id].name) for p in people.values()
        },
        "memberships": {(teams[m.team_id].name, people[m.person_id].email, m.role) for m in links},
        "questions": {(q.id, q.active) for q in questions},
    }


def _hierarchy(snapshot: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(team[1], team[2]) for team in snapshot["teams"]}


def _team(snapshot: dict[str, Any], name: str) -> tuple[Any, ...]:
    return next(team for team in snapshot["teams"] if team[1] == name)


def _errors(excinfo: pytest.ExceptionInfo[OrgError]) -> list[str]:
    return excinfo.value.errors


# --------------------------------------------------------------------------------------------
# Importing


async def test_yaml_file_imports_teams_hierarchy_roles_and_schedule(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(ORG_YAML, encoding="utf-8")

    summary = await _import(db, load_file(path))

    assert summary == ImportSummary(teams=4, people=7, memberships=8)
    snap = await _snapshot(db)
    assert snap["orgs"] == {("Organisation", False)}
    assert _hierarchy(snap) == HIERARCHY
    assert snap["memberships"] == MEMBERSHIPS
    assert _team(snap, "Ward 9")[3:] == (
        "C0WARD9",
        "19:ward9@thread.tacv2",
        "fortnightly",
        "thu",
        "09:30",
        "Europe/London",
        4,
    )
    # a team that states no schedule gets the defaults
    assert _team(snap, "Theatres")[3:] == (None, None, "weekly", "mon", "10:00", None, 3)
    names = {email: name for email, name, _ in snap["people"]}
    assert names["sam.okafor@trust.nhs.uk"] == "Sam Okafor"
    assert names["ann.jones@trust.nhs.uk"] == "Ann Jones"  # e-mail was given in capitals
    assert names["dr.lee@trust.nhs.uk"] == "Dr Mei Lee"  # from the optional people list


async def test_csv_imports_the_same_organisation_as_the_yaml(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "org.csv"
    path.write_text(ORG_CSV, encoding="utf-8-sig")  # as Excel saves it, with a BOM

    summary = await _import(db, load_file(path))

    assert summary == ImportSummary(teams=4, people=7, memberships=8)
    snap = await _snapshot(db)
    assert _hierarchy(snap) == HIERARCHY  # "Trust" exists only as a parent_team
    assert snap["memberships"] == MEMBERSHIPS
    names = {email: name for email, name, _ in snap["people"]}
    assert names["dr.lee@trust.nhs.uk"] == "Dr Mei Lee"
    assert names["jo.smith@trust.nhs.uk"] == "Jo Smith"


async def test_csv_after_yaml_changes_nothing_and_keeps_schedules(db: Database) -> None:
    """The CSV cannot state channels or schedules, so re-importing it must not reset them."""
    await _import(db, spec_from_yaml(ORG_YAML))
    before = await _snapshot(db)

    summary = await _import(db, spec_from_csv(ORG_CSV))

    assert summary.memberships == 8
    assert await _snapshot(db) == before


async def test_reimport_moves_a_person_without_duplicating_anything(db: Database) -> None:
    await _import(db, spec_from_yaml(ORG_YAML))
    async with db.session() as session:
        ids_before = {t.name: t.id for t in (await session.exec(select(Team))).all()}
    moved = ORG_YAML.replace("      - sam.okafor@trust.nhs.uk\n", "").replace(
        "members: [jo.smith@trust.nhs.uk,",
        "members: [sam.okafor@trust.nhs.uk, jo.smith@trust.nhs.uk,",
    )

    summary = await _import(db, spec_from_yaml(moved))
    await _import(db, spec_from_yaml(moved))  # and once more: still nothing duplicated

    assert summary == ImportSummary(teams=4, people=7, memberships=8)
    snap = await _snapshot(db)
    sam = {(team, role) for team, email, role in snap["memberships"] if email.startswith("sam.")}
    assert sam == {("Theatres", "member")}
    assert len(snap["people"]) == 7
    assert len(snap["memberships"]) == 8
    async with db.session() as session:
        ids_after = {t.name: t.id for t in (await session.exec(select(Team))).all()}
    assert ids_after == ids_before


async def test_a_person_can_manage_one_team_and_be_a_member_of_another(db: Database) -> None:
    spec = spec_from_csv(
        "email,team,parent_team,role\n"
        "ann.jones@trust.nhs.uk,Ward 9,,manager\n"
        "ann.jones@trust.nhs.uk,Ward 9,,member\n"
        "ann.jones@trust.nhs.uk,Ward 9,,member\n"  # a repeated row is harmless
    )

    summary = await _import(db, spec)

    assert summary == ImportSummary(teams=1, people=1, memberships=2)


async def test_questions_are_synced_from_the_bank(db: Database) -> None:
    async with db.session() as session:
        session.add(Question(id="retired-1", theme="x", text="Old question", source="old"))
        await session.commit()

    await _import(db, spec_from_yaml(ORG_YAML))
    await _import(db, spec_from_yaml(ORG_YAML))

    async with db.session() as session:
        active = (await session.exec(select(Question).where(col(Question.active).is_(True)))).all()
        retired = await session.get(Question, "retired-1")
    assert len(active) >= 30
    assert {q.id for q in active} == {q.id for q in load_bank().questions}
    assert retired is not None and retired.active is False


# --------------------------------------------------------------------------------------------
# All or nothing


async def test_an_error_found_while_writing_imports_nothing(db: Database) -> None:
    """A person already in another organisation is only found once the teams are written."""
    demo = spec_from_yaml(
        "name: Demo\nteams:\n  - name: Demo team\n    members: [sam.okafor@trust.nhs.uk]\n"
    )
    await _import(db, demo, is_demo=True)
    before = await _snapshot(db)

    with pytest.raises(OrgError) as excinfo:
        await _import(db, spec_from_yaml("name: Leeds Teaching Hospitals\n" + ORG_YAML))

    assert _errors(excinfo) == ["'sam.okafor@trust.nhs.uk' already belongs to organisation 'Demo'"]
    assert await _snapshot(db) == before


async def test_a_database_failure_midway_rolls_everything_back(db: Database) -> None:
    """The database itself refuses the last step (a trigger freezing one team's memberships):
    the changed teams, people and the already-deleted memberships must all come back."""
    await _import(db, spec_from_yaml(ORG_YAML))
    before = await _snapshot(db)
    await _freeze_team(db, "Theatres")
    changed = """\
teams:
  - name: Trust
  - name: Surgery
    parent: Trust
    managers: [new.boss@trust.nhs.uk]
  - name: Ward 9
    parent: Surgery
    managers: [ann.jones@trust.nhs.uk]
    members: [priya.shah@trust.nhs.uk]
    schedule: {day: fri, time: "14:00"}
  - name: Ward 10
    parent: Surgery
    members: [tom.brown@trust.nhs.uk]
  - name: Theatres
    parent: Surgery
    members: [sam.okafor@trust.nhs.uk]
people:
  - {email: dr.lee@trust.nhs.uk, name: Prof Mei Lee}
"""

    with pytest.raises(DBAPIError, match="frozen"):
        await _import(db, spec_from_yaml(changed))

    assert await _snapshot(db) == before


async def _freeze_team(db: Database, team: str) -> None:
    if is_sqlite(db.url):
        statements = [
            "CREATE TRIGGER freeze_team BEFORE INSERT ON membership "
            f"WHEN NEW.team_id IN (SELECT id FROM team WHERE name = '{team}') "
            "BEGIN SELECT RAISE(ABORT, 'team is frozen'); END"
        ]
    else:
        statements = [
            "CREATE FUNCTION freeze_team() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.team_id IN (SELECT id FROM team WHERE name = '{team}') THEN "
            "RAISE EXCEPTION 'team is frozen'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER freeze_team BEFORE INSERT ON membership "
            "FOR EACH ROW EXECUTE FUNCTION freeze_team()",
        ]
    async with db.engine.begin() as connection:
        for statement in statements:
            await connection.exec_driver_sql(statement)


async def test_a_file_with_errors_is_rejected_before_anything_is_written(
    db: Database, tmp_path: Path
) -> None:
    await _import(db, spec_from_yaml(ORG_YAML))
    before = await _snapshot(db)
    path = tmp_path / "org.csv"
    path.write_text(ORG_CSV + "ann.jones@trust.nhs.uk,Ward 9,Surgery,boss,\n", encoding="utf-8")

    with pytest.raises(OrgError, match="line 10: 'boss' is not a role"):
        await _import(db, load_file(path))

    assert await _snapshot(db) == before


# --------------------------------------------------------------------------------------------
# Errors a user sees


def test_bad_csv_rows_are_all_reported_with_line_and_reason() -> None:
    text = (
        "email,team,parent_team,role\n"
        "sam.okafor@trust.nhs.uk,Ward 9,Surgery,member\n"
        "not-an-email,Ward 9,Surgery,member\n"
        "ann.jones@trust.nhs.uk,Ward 9,Surgery,manger\n"
        "tom.brown@trust.nhs.uk,,Surgery,member\n"
        "jo.smith@trust.nhs.uk,Ward 9,Medicine,member\n"
        "ali.khan@trust.nhs.uk,Theatres,Surgery,member,extra\n"
    )

    with pytest.raises(OrgError) as excinfo:
        spec_from_csv(text)

    assert _errors(excinfo) == [
        "line 3: 'not-an-email' is not an email address",
        "line 4: 'manger' is not a role (use member or manager)",
        "line 5: team is empty",
        "line 6: team 'Ward 9' has parent_team 'Medicine' but line 2 gave 'Surgery'",
        "line 7: more values than there are columns in the header",
    ]
    assert "line 4: 'manger' is not a role" in str(excinfo.value)


def test_csv_header_is_required() -> None:
    with pytest.raises(OrgError) as excinfo:
        spec_from_csv("sam.okafor@trust.nhs.uk,Ward 9,Surgery,member\n")

    assert any("line 1: the header has no 'email' column" in e for e in _errors(excinfo))


def test_bad_yaml_fields_name_the_line_team_and_field() -> None:
    text = """\
teams:
  - name: Surgery
    managers: [dr.lee@trust.nhs.uk]
  - name: Ward 9
    parent: Surgery
    manger: [ann.jones@trust.nhs.uk]
    members:
      - sam.okafor@trust.nhs.uk
      - priya.shah@
    schedule:
      cadence: daily
      day: funday
      time: "25:00"
      timezone: Mars/Olympus
    questions_per_pulse: 9
  - members: [tom.brown@trust.nhs.uk]
"""
    with pytest.raises(OrgError) as excinfo:
        spec_from_yaml(text)

    errors = _errors(excinfo)
    assert errors[0].startswith("line 6: team 2 'Ward 9': 'manger' is not a known field (use name,")
    assert errors[1:] == [
        "line 9: team 2 'Ward 9', members: 'priya.shah@' is not an email address",
        "line 11: team 2 'Ward 9', schedule.cadence: must be 'weekly', 'fortnightly' or "
        "'monthly' (got 'daily')",
        "line 12: team 2 'Ward 9', schedule.day: 'funday' is not a day "
        "(use mon, tue, wed, thu, fri, sat or sun)",
        "line 13: team 2 'Ward 9', schedule.time: '25:00' is not a time "
        "(use HH:MM, 24-hour, e.g. 09:30)",
        "line 14: team 2 'Ward 9', schedule.timezone: 'Mars/Olympus' is not a time zone "
        "(use a name like Europe/London)",
        "line 15: team 2 'Ward 9', questions_per_pulse: must be between 2 and 5 (got 9)",
        "line 16: team 3: 'name' is required",
    ]


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(OrgError) as excinfo:
        spec_from_yaml("teams:\n  - name: Ward 9\n    members: [a@trust.nhs.uk\n")

    assert _errors(excinfo) == [
        "line 4, column 1: not valid YAML (expected ',' or ']', but got '<stream end>'; "
        "while parsing a flow sequence that starts on line 3)"
    ]
    with pytest.raises(OrgError, match=r"^line 3, column 14: not valid YAML \(mapping values"):
        spec_from_yaml("teams:\n  - name: Ward 9\n    parent: x: y\n")


def test_unknown_parent_and_cycles_are_rejected_together() -> None:
    text = """\
teams:
  - name: Ward 9
    parent: Surgry
    members: [sam.okafor@trust.nhs.uk]
  - name: Medicine
    parent: Acute
    members: [ann.jones@trust.nhs.uk]
  - name: Acute
    parent: medicine
    members: [tom.brown@trust.nhs.uk]
  - name: ward 9
    members: [jo.smith@trust.nhs.uk]
  - name: Empty
"""
    with pytest.raises(OrgError) as excinfo:
        spec_from_yaml(text)

    assert _errors(excinfo) == [
        "line 11: team 'ward 9': another team is already called 'Ward 9' (line 2)",
        "line 2: team 'Ward 9': parent 'Surgry' is not a team in the file",
        "line 5: team 'Medicine': parent chain loops (Medicine -> Acute -> Medicine)",
        "line 13: team 'Empty': has no managers or members (only a parent team may be empty)",
    ]


def test_csv_cycles_are_rejected() -> None:
    text = (
        "email,team,parent_team,role\n"
        "a.b@trust.nhs.uk,Ward 9,Ward 9,member\n"
        "c.d@trust.nhs.uk,Surgery,Medicine,manager\n"
        "e.f@trust.nhs.uk,Medicine,Surgery,manager\n"
    )
    with pytest.raises(OrgError) as excinfo:
        spec_from_csv(text)

    assert _errors(excinfo) == [
        "line 2: team 'Ward 9': parent chain loops (Ward 9 -> Ward 9)",
        "line 3: team 'Surgery': parent chain loops (Surgery -> Medicine -> Surgery)",
    ]


async def test_a_spec_built_in_code_is_checked_too(db: Database) -> None:
    spec = OrgSpec.model_validate(
        {"teams": [{"name": "A", "parent": "A", "members": ["a.b@trust.nhs.uk"]}]}
    )
    with pytest.raises(OrgError, match="parent chain loops"):
        await _import(db, spec)
    assert (await _snapshot(db))["teams"] == set()


def test_load_file_rejects_unknown_types_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "org.txt").write_text(ORG_CSV, encoding="utf-8")
    with pytest.raises(OrgError, match=r"unknown file type \(\.txt\); use \.yaml, \.yml or \.csv"):
        load_file(tmp_path / "org.txt")
    with pytest.raises(OrgError, match="no such file"):
        load_file(tmp_path / "missing.yaml")
    (tmp_path / "org.yml").write_text(ORG_YAML, encoding="utf-8")
    assert len(load_file(tmp_path / "org.yml").teams) == 4


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("{day: Monday, time: '9:05'}", ("mon", "09:05")),
        ("{day: TUE, time: 23:59}", ("tue", "23:59")),
        ("{day: thurs, time: '07:00'}", ("thu", "07:00")),
        ("{}", ("mon", "10:00")),
    ],
)
def test_schedule_day_and_time_are_normalised(schedule: str, expected: tuple[str, str]) -> None:
    spec = spec_from_yaml(f"teams:\n  - name: W\n    members: [a@b.uk]\n    schedule: {schedule}\n")

    assert spec.teams[0].schedule is not None
    assert (spec.teams[0].schedule.day, spec.teams[0].schedule.time) == expected
