"""Writing a valid spec into the database (one transaction) and syncing the question bank."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Membership, Organisation, Person, Question, Role, Team
from surveys.bank import load_bank
from surveys.organisation.spec import (
    OrgError,
    OrgSpec,
    TeamSpec,
    _key,
    check_spec,
    display_name_for,
)


@dataclass
class ImportSummary:
    teams: int
    people: int
    memberships: int


_CHANNEL_COLUMNS = {"slack": "slack_channel", "teams": "teams_channel"}
_SCHEDULE_COLUMNS = {
    "cadence": "cadence",
    "day": "schedule_day",
    "time": "schedule_time",
    "timezone": "timezone",
    "length": "round_days",
}


async def sync_questions(session: AsyncSession) -> int:
    """Make the Question table match the bank (inactive when gone); returns the active count.

    Flushes but does not commit: the caller owns the transaction."""
    existing = {q.id: q for q in (await session.exec(select(Question))).all()}
    bank = load_bank().questions
    for item in bank:
        row = existing.pop(item.id, None) or Question(
            id=item.id, theme=item.theme, text="", source=""
        )
        row.theme, row.text, row.source = item.theme, item.text, item.source
        row.reverse, row.advocacy, row.active = item.reverse, item.advocacy, True
        session.add(row)
    for stale in existing.values():
        stale.active = False
        session.add(stale)
    await session.flush()
    return len(bank)


async def _upsert_organisation(session: AsyncSession, name: str, is_demo: bool) -> Organisation:
    query = select(Organisation).where(Organisation.name == name)
    org = (await session.exec(query)).first() or Organisation(name=name)
    org.is_demo = is_demo
    session.add(org)
    await session.flush()
    return org


def _apply_places(org: Organisation, spec: OrgSpec) -> None:
    """The workspaces and tenants the file names (one it leaves out stays as stored; ``[]``
    clears it)."""
    for name in ("slack_workspaces", "teams_tenants"):
        if name in spec.model_fields_set:
            setattr(org, name, " ".join(getattr(spec, name)))


def _apply_settings(team: Team, spec: TeamSpec) -> None:
    """Copy what the file states; settings it leaves out (e.g. set in chat) stay as they are."""
    team.name = spec.name
    if spec.channel is not None:
        for name in spec.channel.model_fields_set:
            setattr(team, _CHANNEL_COLUMNS[name], getattr(spec.channel, name))
    if spec.schedule is not None:
        for name in spec.schedule.model_fields_set:
            setattr(team, _SCHEDULE_COLUMNS[name], getattr(spec.schedule, name))
    if "questions_per_pulse" in spec.model_fields_set:
        team.questions_per_pulse = spec.questions_per_pulse


async def _upsert_teams(session: AsyncSession, org_id: int, spec: OrgSpec) -> dict[str, Team]:
    """Pass one: every team exists; pass two: parents point at them."""
    rows = (await session.exec(select(Team).where(Team.organisation_id == org_id))).all()
    existing = {_key(team.name): team for team in rows}
    teams: dict[str, Team] = {}
    for item in spec.teams:
        team = existing.get(_key(item.name)) or Team(organisation_id=org_id, name=item.name)
        _apply_settings(team, item)
        session.add(team)
        teams[_key(item.name)] = team
    await session.flush()
    for item in spec.teams:
        parent = teams[_key(item.parent)] if item.parent is not None else None
        teams[_key(item.name)].parent_id = parent.id if parent is not None else None
    await session.flush()
    return teams


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    return (values[start : start + size] for start in range(0, len(values), size))


async def _existing_people(session: AsyncSession, emails: Sequence[str]) -> dict[str, Person]:
    found: dict[str, Person] = {}
    for chunk in _chunks(emails):
        rows = await session.exec(select(Person).where(col(Person.email).in_(chunk)))
        found.update({person.email: person for person in rows.all()})
    return found


async def _foreign_people(session: AsyncSession, org_id: int, people: Iterable[Person]) -> None:
    """People already in another organisation are not silently moved out of it."""
    foreign = [person for person in people if person.organisation_id != org_id]
    if not foreign:
        return
    orgs = {org.id: org.name for org in (await session.exec(select(Organisation))).all()}
    raise OrgError(
        [
            f"'{p.email}' already belongs to organisation '{orgs.get(p.organisation_id)}'"
            for p in foreign
        ]
    )


async def _upsert_people(session: AsyncSession, org_id: int, spec: OrgSpec) -> dict[str, Person]:
    emails = spec.emails()
    names = {person.email: person.name for person in spec.people}
    people = await _existing_people(session, emails)
    await _foreign_people(session, org_id, people.values())
    for email in emails:
        person = people.get(email)
        if person is None:
            person = Person(organisation_id=org_id, email=email, display_name="")
            person.display_name = names.get(email) or display_name_for(email)
            people[email] = person
        elif email in names:
            person.display_name = names[email]
        session.add(person)
    await session.flush()
    return people


def _id(row: Team | Person) -> int:
    assert row.id is not None, "flushed rows have ids"
    return row.id


async def _replace_memberships(
    session: AsyncSession, spec: OrgSpec, teams: Mapping[str, Team], people: Mapping[str, Person]
) -> int:
    team_ids = [_id(team) for team in teams.values()]
    await session.exec(delete(Membership).where(col(Membership.team_id).in_(team_ids)))
    rows = [
        Membership(team_id=_id(teams[_key(item.name)]), person_id=_id(people[email]), role=role)
        for item in spec.teams
        for role, emails in ((Role.MANAGER, item.managers), (Role.MEMBER, item.members))
        for email in emails
    ]
    session.add_all(rows)
    await session.flush()
    return len(rows)


async def _write(session: AsyncSession, spec: OrgSpec, is_demo: bool) -> ImportSummary:
    await sync_questions(session)
    org = await _upsert_organisation(session, spec.name, is_demo)
    _apply_places(org, spec)
    assert org.id is not None
    teams = await _upsert_teams(session, org.id, spec)
    people = await _upsert_people(session, org.id, spec)
    memberships = await _replace_memberships(session, spec, teams, people)
    return ImportSummary(teams=len(teams), people=len(people), memberships=memberships)


async def import_spec(
    session: AsyncSession, spec: OrgSpec, *, is_demo: bool = False
) -> ImportSummary:
    """Write the organisation in one transaction (all or nothing) and sync the question bank.

    Organisation by name, teams by (organisation, name), people by email are updated in place;
    the memberships of every team in the spec are replaced by the spec's."""
    check_spec(spec)
    try:
        summary = await _write(session, spec, is_demo)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return summary
