"""Which team a command is about: resolved once, by name, inside one organisation.

A chat command's team is looked for only among the teams its asker may act on, in the asker's own
organisation (``Person.organisation_id``); a name that fits none, or several, gets a "which team?"
reply listing theirs, never another organisation's.  The command line has no asker, so an operator
names the organisation (``--org``) when the team's name is used in several.  Either way the answer
is a :class:`~surveys.directory.TeamRef`, and the core works on its id from then on (DESIGN.md,
invariant 5).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.views import TextReply
from storage.models import Organisation, Team
from surveys import directory
from surveys.directory import AmbiguousTeam, Asker, TeamRef, UnknownTeam, team_key

FOR_MANAGERS = (
    "That's for managers: trend reports, sending and settings go to a "
    "team's managers and the leaders above them."
)
NOT_YOURS = (
    "Sorry, {team} isn't one of your teams, so I can't show that. "
    "Results go to a team's managers and the leaders above them."
)
SHOWN = 12  # teams listed in a "which team?" reply; the rest are counted


class TeamChoiceError(Exception):
    """The operator's team name doesn't pick out one team; the message says why."""


async def chosen_team(
    session: AsyncSession,
    asker: Asker,
    name: str | None,
    *,
    below: bool,
    command: str,
    guess: bool = True,
) -> Team | TextReply:
    """The team ``asker`` means by ``name`` among those they may act on: the teams they manage
    (``below``: and every team under those), in their own organisation.  With no name: their
    first managed team, or (``guess=False``, when they manage several) a "which team?" reply.
    ``command`` (``pulse send``) is the example the reply suggests."""
    managed = asker.managed
    if not managed:
        return TextReply(FOR_MANAGERS, kind="error")
    if name is None:
        if guess or len(managed) == 1:
            return managed[0]
        return TextReply(_which(managed, command, "You manage several teams."))
    # (only a name needs the teams below: a trust's manager's unnamed report reads none of them)
    allowed = await directory.manageable_teams(session, asker) if below else managed
    try:
        return directory.pick_team(name, allowed)
    except AmbiguousTeam as error:  # teams stored before names were unique by case
        reason = f"Several of your teams are called “{name}”: write the name as shown here."
        return TextReply(_which(error.matches, command, reason), kind="error")
    except UnknownTeam:
        pass
    elsewhere = [
        team
        for team in await directory.teams_in(session, asker.person.organisation_id)
        if team_key(team.name) == team_key(name)
    ]
    if elsewhere:  # a team of their own organisation that isn't theirs
        return TextReply(NOT_YOURS.format(team=elsewhere[0].name), kind="error")
    reason = f"I don't know a team called “{name}”."
    return TextReply(_which(allowed, command, reason), kind="error")


def _which(teams: Sequence[Team], command: str, reason: str) -> str:
    names = [team.name for team in teams]
    shown = ", ".join(names[:SHOWN])
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return (
        f"Which team? {reason} Your teams: {shown}{more}. Say, for example, `{command} {names[0]}`."
    )


async def operator_team(session: AsyncSession, name: str, organisation: str | None) -> TeamRef:
    """The team an operator names on the command line: in ``organisation`` when given, else the
    name must be used in one organisation only.  :class:`TeamChoiceError` otherwise."""
    if organisation is not None:
        org = await _organisation(session, organisation)
        assert org.id is not None
        candidates = await directory.teams_in(session, org.id)
        where = f" in {org.name}"
    else:
        candidates = await directory.teams_named_anywhere(session, name)
        orgs = {team.organisation_id for team in candidates}
        if len(orgs) > 1:
            names = ", ".join(sorted(await _organisation_names(session, orgs)))
            raise TeamChoiceError(
                f"Teams called “{name}” are in several organisations: {names}. "
                "Say which with --org NAME."
            )
        where = ""
    try:
        return TeamRef.of(directory.pick_team(name, candidates))
    except UnknownTeam:
        raise TeamChoiceError(f"There is no team called “{name}”{where}.") from None
    except AmbiguousTeam as error:
        names = ", ".join(f"“{team.name}”" for team in error.matches)
        raise TeamChoiceError(
            f"Several teams{where} are called “{name}” ({names}); give the name exactly as one "
            "of them is written."
        ) from None


async def _organisation(session: AsyncSession, name: str) -> Organisation:
    """By its exact name, else by a name differing only by case and spacing (if just one)."""
    organisations = (await session.exec(select(Organisation))).all()
    exact = [org for org in organisations if org.name == name.strip()]
    loose = [org for org in organisations if team_key(org.name) == team_key(name)]
    for found in (exact, loose):
        if len(found) == 1:
            return found[0]
    known = ", ".join(sorted(org.name for org in organisations)) or "none yet"
    raise TeamChoiceError(f"There is no organisation called “{name}” (organisations: {known}).")


async def _organisation_names(session: AsyncSession, ids: set[int]) -> list[str]:
    organisations = (await session.exec(select(Organisation))).all()
    return [org.name for org in organisations if org.id in ids]
