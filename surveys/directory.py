"""Who is who: people, teams, roles and the team hierarchy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Integer, Select, String, and_, bindparam, func
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.lists import one_of
from storage.models import Membership, Organisation, Person, Role, Team
from surveys.forms import without_control


def normalise_email(email: str) -> str:
    """How every email is stored and compared: trimmed and in lower case (platforms, the
    organisation file and people typing may each spell it differently), without control
    characters (no email has one, and PostgreSQL refuses a NUL in a query)."""
    return without_control(email).strip().lower()


async def person_by_email(session: AsyncSession, email: str) -> Person | None:
    result = await session.exec(select(Person).where(Person.email == normalise_email(email)))
    return result.first()


async def person_ids_by_email(session: AsyncSession, emails: Iterable[str]) -> dict[str, int]:
    """Email (as stored: trimmed, lower case) -> person id, for those in the organisation."""
    wanted = {normalise_email(email) for email in emails}
    if not wanted:
        return {}
    query = select(Person.email, Person.id).where(one_of(session, col(Person.email), wanted))
    return {email: person_id for email, person_id in (await session.exec(query)).all() if person_id}


async def resolve_mention(
    session: AsyncSession, organisation_id: int, handle: str
) -> Person | None:
    """``@alice.smith`` or ``@alice.smith@trust.nhs.uk``: a full email or a unique local part,
    among the people of one organisation (kudos never reach into another one)."""
    handle = handle.strip().lower()
    query = select(Person).where(Person.organisation_id == organisation_id)
    if "@" in handle:
        query = query.where(Person.email == handle)
    else:
        query = query.where(col(Person.email).startswith(f"{handle}@", autoescape=True))
    matches = (await session.exec(query)).all()
    return matches[0] if len(matches) == 1 else None


def team_key(name: str) -> str:
    """How team names compare: case and spacing ignored (``Ward  a`` is ``Ward A``).  Names are
    unique by this key within an organisation (the organisation import refuses otherwise)."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class TeamRef:
    """A team resolved once (by name, within one organisation): from then on it is its id."""

    id: int
    name: str
    organisation_id: int

    @classmethod
    def of(cls, team: Team) -> TeamRef:
        assert team.id is not None, "a stored team has an id"
        return cls(team.id, team.name, team.organisation_id)


class TeamNameError(LookupError):
    """A name that doesn't pick out exactly one team; ``matches`` are the teams it fits."""

    def __init__(self, name: str, matches: Sequence[Team] = ()) -> None:
        self.name = name
        self.matches = list(matches)
        super().__init__(name)


class UnknownTeam(TeamNameError):
    """No team of those asked about has this name."""


class AmbiguousTeam(TeamNameError):
    """Several teams have this name (in several organisations, or differing only by case)."""


def pick_team(name: str, candidates: Iterable[Team]) -> Team:
    """The one team among ``candidates`` that ``name`` means, by :func:`team_key`.  When several
    fit (teams stored before names were unique by that key) the one spelled exactly so wins;
    else :class:`AmbiguousTeam`, or :class:`UnknownTeam` when none fits."""
    matches = [team for team in candidates if team_key(team.name) == team_key(name)]
    if len(matches) > 1:
        spelled = " ".join(name.split())
        exact = [team for team in matches if " ".join(team.name.split()) == spelled]
        matches = exact if len(exact) == 1 else matches
    if not matches:
        raise UnknownTeam(name)
    if len(matches) > 1:
        raise AmbiguousTeam(name, matches)
    return matches[0]


async def teams_in(session: AsyncSession, organisation_id: int) -> list[Team]:
    """One organisation's teams, by name."""
    query = select(Team).where(Team.organisation_id == organisation_id)
    return list((await session.exec(query.order_by(col(Team.name)))).all())


async def team_named(session: AsyncSession, organisation_id: int, name: str) -> Team:
    """The team called ``name`` in this organisation (never another's); raises
    :class:`UnknownTeam` or :class:`AmbiguousTeam`."""
    return pick_team(name, await teams_in(session, organisation_id))


async def teams_named_anywhere(session: AsyncSession, name: str) -> list[Team]:
    """Every team called ``name`` in any organisation: for the operator's command line, which
    has no asker (and so no organisation) to scope by, to say which organisations have one."""
    teams = (await session.exec(select(Team).order_by(col(Team.organisation_id)))).all()
    return [team for team in teams if team_key(team.name) == team_key(name)]


async def all_teams(session: AsyncSession) -> list[Team]:
    return list((await session.exec(select(Team).order_by(col(Team.name)))).all())


async def teams_synced_from(session: AsyncSession, source: str) -> list[Team]:
    """The teams whose members are kept in step with ``source`` (``Team.member_source``)."""
    query = select(Team).where(Team.member_source == source).order_by(col(Team.name))
    return list((await session.exec(query)).all())


@dataclass(frozen=True)
class RosterEntry:
    """A person and the teams they belong to, as a picker of who to act as shows them."""

    email: str
    name: str
    teams: list[str]  # as a member
    manages: list[str]


async def roster(session: AsyncSession) -> list[RosterEntry]:
    """Everyone in a team, by name, with their teams (the local web chat's people picker)."""
    query = (
        select(Person, Team.name, Membership.role)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .join(Team, col(Team.id) == col(Membership.team_id))
        .order_by(col(Person.display_name))
    )
    found: dict[str, RosterEntry] = {}
    for person, team, role in (await session.exec(query)).all():
        entry = found.setdefault(
            person.email, RosterEntry(person.email, person.display_name, [], [])
        )
        (entry.manages if role == Role.MANAGER else entry.teams).append(team)
    return list(found.values())


async def has_demo(session: AsyncSession) -> bool:
    """Whether the demo organisation is loaded."""
    query = select(Organisation.id).where(col(Organisation.is_demo))
    return (await session.exec(query)).first() is not None


async def teams_of(session: AsyncSession, person_id: int, role: Role | None = None) -> list[Team]:
    query = select(Team).join(Membership, col(Membership.team_id) == col(Team.id))
    query = query.where(Membership.person_id == person_id)
    if role is not None:
        query = query.where(Membership.role == role)
    rows = (await session.exec(query.order_by(col(Team.name)))).all()
    unique = {team.id: team for team in rows}
    return list(unique.values())


async def members(session: AsyncSession, team_id: int, role: Role = Role.MEMBER) -> list[Person]:
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .where(Membership.team_id == team_id, Membership.role == role)
        .order_by(col(Person.id))
    )
    return list((await session.exec(query)).all())


def subtree_query(root_id: int | BindParameter[int]) -> Select[Any]:
    """The ids of the root and every team below it, as a query: a recursive one through
    ``team.parent_id``'s index, so a ward reads one row, not the organisation.  (``UNION``, not
    ``UNION ALL``: a cycle in the stored hierarchy ends the walk instead of looping.)"""
    tree = select_columns(col(Team.id)).where(col(Team.id) == root_id).cte(recursive=True)
    below = select_columns(col(Team.id)).where(col(Team.parent_id) == tree.c.id)
    tree = tree.union(below)
    return select_columns(tree.c.id)


async def subtree(session: AsyncSession, root_id: int) -> list[int]:
    """The root, then every team below it (``subtree_query``)."""
    rows = (await session.exec(subtree_query(root_id))).all()  # type: ignore[call-overload]
    found = {team_id for (team_id,) in rows}
    return [root_id, *sorted(found - {root_id})]


@dataclass(frozen=True)
class TeamSize:
    """How many teams a team's subtree holds (the team included), and its own members."""

    teams: int
    members: int


# A chat command's own statements are built once (``@cache``, their values bound): building
# one and finding its compiled form in SQLAlchemy's cache took longer than running it.
_TEAM_ID = bindparam("team_id", type_=Integer)


@cache
def _team_size_query() -> Select[Any]:
    tree = subtree_query(_TEAM_ID).subquery()
    teams = select_columns(func.count()).select_from(tree).scalar_subquery()
    members = select_columns(func.count()).where(
        col(Membership.team_id) == _TEAM_ID, col(Membership.role) == Role.MEMBER
    )
    return select_columns(teams, members.scalar_subquery())


async def team_size(session: AsyncSession, team_id: int) -> TeamSize:
    """``TeamSize``, counted in the database in one statement: a trust's 2,000 ids are not sent
    to Python to be counted."""
    connection = await session.connection()
    found = await connection.execute(_team_size_query(), {"team_id": team_id})
    counted, people = found.one()
    return TeamSize(int(counted), int(people))


async def teams_with_members(session: AsyncSession, role: Role = Role.MEMBER) -> set[int]:
    """The teams with at least one person in ``role``."""
    query = select(Membership.team_id).where(Membership.role == role).distinct()
    return set((await session.exec(query)).all())


def descendants(teams: Iterable[Team], root_id: int) -> list[int]:
    """The root and every team below it."""
    children: dict[int | None, list[int]] = {}
    for team in teams:
        assert team.id is not None
        children.setdefault(team.parent_id, []).append(team.id)
    found, stack = [], [root_id]
    while stack:
        team_id = stack.pop()
        found.append(team_id)
        stack.extend(children.get(team_id, []))
    return found


@dataclass(frozen=True)
class Asker:
    """Someone who asked for something, with the teams they manage, in their own organisation
    only, by name: what a manager's command checks first."""

    person: Person
    managed: list[Team]


@cache
def _asker_query() -> Any:
    manages = and_(
        col(Membership.person_id) == col(Person.id), col(Membership.role) == Role.MANAGER
    )
    own = and_(
        col(Team.id) == col(Membership.team_id),
        col(Team.organisation_id) == col(Person.organisation_id),
    )
    return (
        select(Person, Team)
        .outerjoin(Membership, manages)
        .outerjoin(Team, own)
        .where(Person.email == bindparam("email", type_=String))
        .order_by(col(Team.name))
    )


async def asker_by_email(session: AsyncSession, email: str) -> Asker | None:
    """The person and the teams they manage, in one statement (a chat command's first read)."""
    found = await session.exec(_asker_query(), params={"email": normalise_email(email)})
    rows = found.all()
    if not rows:
        return None
    teams = {team.id: team for _, team in rows if team is not None}
    return Asker(rows[0][0], list(teams.values()))


async def manageable_teams(session: AsyncSession, asker: Asker) -> list[Team]:
    """Teams a person may see trends for: those they manage and every team below them (all in
    their organisation), by name."""
    teams = await teams_in(session, asker.person.organisation_id)
    visible: set[int] = set()
    for team in asker.managed:
        assert team.id is not None
        visible.update(descendants(teams, team.id))
    return [team for team in teams if team.id in visible]


async def replace_members(
    session: AsyncSession, team: Team, emails: Iterable[str]
) -> tuple[int, int]:
    """Make ``emails`` the team's members (role member): people are matched by email in the
    team's organisation, or created; someone who belongs to another organisation is left out
    (one deployment may serve several trusts), and the team's managers are neither added as
    members nor touched.  Returns (added, removed); the caller commits."""
    assert team.id is not None
    # one replacement of a team's members at a time: on PostgreSQL two (a command and a channel
    # event, on two replicas) would otherwise both add the same membership.  FOR NO KEY UPDATE
    # leaves other inserts that merely refer to the team (their foreign key checks) unblocked;
    # SQLite's writes are serial already (and it has no FOR UPDATE)
    locked = select(Team.id).where(Team.id == team.id).with_for_update(key_share=True)
    await session.exec(locked)
    wanted = {normalise_email(email) for email in emails if email and "@" in email}
    managers = {person.email for person in await members(session, team.id, Role.MANAGER)}
    wanted -= managers
    current = {
        membership.person_id: membership
        for membership in (
            await session.exec(
                select(Membership).where(
                    Membership.team_id == team.id, Membership.role == Role.MEMBER
                )
            )
        ).all()
    }
    people = {
        person.email: person
        for person in (
            await session.exec(select(Person).where(col(Person.email).in_(sorted(wanted))))
        ).all()
    }
    added = 0
    keep: set[int] = set()
    for email in sorted(wanted):
        person = people.get(email)
        if person is not None and person.organisation_id != team.organisation_id:
            continue
        if person is None:
            person = Person(
                organisation_id=team.organisation_id, email=email, display_name=email.split("@")[0]
            )
            session.add(person)
            await session.flush()
        assert person.id is not None
        keep.add(person.id)
        if person.id not in current:
            session.add(Membership(team_id=team.id, person_id=person.id, role=Role.MEMBER))
            added += 1
    removed = 0
    for person_id, membership in current.items():
        if person_id not in keep:
            await session.delete(membership)
            removed += 1
    return added, removed
