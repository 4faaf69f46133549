"""People and teams for ``TeamPulse``: the organisation's import, the roster, a team's members and
what they are kept in step with, and the team an operator names."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.team_choice import operator_team
from storage.models import Team
from surveys import directory, rounds
from surveys.directory import TeamRef
from surveys.organisation import ImportSummary, OrgSpec, import_spec

if TYPE_CHECKING:
    from bot.service import TeamPulse

log = logging.getLogger(__name__)


class UnknownPerson(Exception):
    """The platform user is not in the organisation (shown to them as a friendly message)."""


async def team_row(session: AsyncSession, ref: TeamRef) -> Team:
    """The resolved team's row, by id (never by name again)."""
    team = await session.get(Team, ref.id)
    if team is None:
        raise rounds.RoundError(f"{ref.name} is no longer a team.")
    return team


async def roster(service: TeamPulse) -> tuple[bool, list[directory.RosterEntry]]:
    """Whether the demo is loaded, and everyone in a team with their teams (by name)."""
    async with service.db.session() as session:
        return await directory.has_demo(session), await directory.roster(session)


async def team_names_of(service: TeamPulse, email: str) -> list[str]:
    """The names of the teams this person belongs to (any role); ``UnknownPerson``."""
    async with service.db.session() as session:
        person = await service.person(session, email)
        assert person.id is not None
        return sorted({team.name for team in await directory.teams_of(session, person.id)})


async def team_named(service: TeamPulse, name: str, organisation: str | None = None) -> TeamRef:
    """The team an operator names (the command line has no asker to scope by): in
    ``organisation`` when given, else a name used in one organisation only.  Raises
    ``TeamChoiceError``.  Chat commands resolve theirs in the asker's organisation."""
    async with service.db.session() as session:
        return await operator_team(session, name, organisation)


async def import_organisation(
    service: TeamPulse, spec: OrgSpec, *, is_demo: bool = False
) -> ImportSummary:
    """Import teams and people (all or nothing).  Weeks already cut keep the results (and
    the hierarchy) they were published with: a changed hierarchy applies to weeks not yet
    cut, since re-cutting a published week would let a reader subtract the two readings."""
    async with service.db.session() as session:
        return await import_spec(session, spec, is_demo=is_demo)


async def set_members(service: TeamPulse, ref: TeamRef, emails: Iterable[str]) -> tuple[int, int]:
    """Replace a team's members (role member) with these people, matched by email or added
    to the organisation; its managers are untouched.  Returns (added, removed).  Whoever
    calls this has checked that the person asking manages the team."""
    async with service.db.session() as session:
        team = await team_row(session, ref)
        added, removed = await directory.replace_members(session, team, emails)
        await session.commit()
    log.info("team members replaced", extra={"added": added, "removed": removed})
    return added, removed


async def set_member_source(service: TeamPulse, ref: TeamRef, source: str | None) -> str | None:
    """Remember (``None``: forget) what a team's members are kept in step with: a platform's
    group as ``<platform>:<its id>`` (``slack:C…``), opaque to the core beyond that prefix.
    Returns the one it replaces.  Whoever calls this has checked that the person asking
    manages the team."""
    async with service.db.session() as session:
        team = await team_row(session, ref)
        previous, team.member_source = team.member_source, source
        session.add(team)
        await session.commit()
    return previous


async def teams_in_step_with(service: TeamPulse, source: str) -> list[TeamRef]:
    """The teams whose members are kept in step with ``source``."""
    async with service.db.session() as session:
        return [TeamRef.of(team) for team in await directory.teams_synced_from(session, source)]
