"""The seam between the core and the platforms: adapters implement ``Messenger``.

A messenger is given small frozen values (``Recipient``, ``TeamTarget``), never the database's
rows: what it may know of a person is their id, email and name, and of a team its name and the
channel it has on each platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from bot.views import View
from storage.models import Person, Team


class Unreachable(Exception):
    """A platform has no account for this person (its messenger raises this to pass them on)."""


class OutcomeUnknown(Exception):
    """A send may have arrived and could not be checked (its answer was lost, and the platform
    could not be read back): the outbox retries it, asking ``delivered`` before any resend."""


@dataclass(frozen=True)
class Recipient:
    """Whom a direct message is for."""

    person_id: int
    email: str
    display_name: str

    @classmethod
    def of(cls, person: Person) -> Recipient:
        assert person.id is not None, "a stored person has an id"
        return cls(person.id, person.email, person.display_name)


def _no_channels() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class TeamTarget:
    """Where a team's posts go: its channel on each platform that has one
    (``{"slack": "C…", "teams": "19:…"}``)."""

    team_id: int
    name: str
    channels: Mapping[str, str] = field(default_factory=_no_channels)

    def channel(self, platform: str) -> str | None:
        return self.channels.get(platform)

    @classmethod
    def of(cls, team: Team) -> TeamTarget:
        assert team.id is not None, "a stored team has an id"
        found = {"slack": team.slack_channel, "teams": team.teams_channel}
        channels = {platform: channel for platform, channel in found.items() if channel}
        return cls(team.id, team.name, MappingProxyType(channels))


class Messenger(Protocol):
    """Pushes views to people and team channels (scheduled pulses, kudos, reports).

    ``reaches_everyone``: the platform has no accounts of its own and takes anyone (the local
    web chat); the router tries it last, after every platform that may find the person.
    """

    reaches_everyone: bool

    async def knows(self, recipient: Recipient) -> bool:
        """Whether this platform already has an account for the person: the router tries the
        platforms that know someone first.  A messenger that reaches everyone (the local web
        chat, the null messenger) answers by its own rule and says so."""

    async def send_direct(
        self, recipient: Recipient, view: View, *, key: str | None = None
    ) -> None:
        """Send a direct message.  Raise ``Unreachable`` when this platform has no account for
        the person (the next platform is tried); raise anything else to have the outbox retry.
        ``key`` is the outbox delivery's stable key (``pulse:<id>``), for a platform that can
        carry it with the message and read it back (``delivered``)."""

    async def delivered(self, recipient: Recipient, key: str, *, round_id: int) -> bool | None:
        """Whether the pulse of round ``round_id`` sent with ``key`` already reached the person
        (asked only when a send's outcome is unknown: its process died mid-send, or an earlier
        check failed); found, the platform keeps its message id for the round's reminder.
        ``None`` when this platform can never tell (the outbox sends again: its bound on doubles
        is the sends in flight); an exception when it can tell but could not be read now (the
        row stays unknown and is checked again before any send)."""

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        """Post to the team's celebration channel (a no-op when the team has none here)."""


class NullMessenger:
    """Used by the CLI when no platform is running: the outbox keeps rows for the server."""

    reaches_everyone = False

    async def knows(self, recipient: Recipient) -> bool:
        """Nobody: it reaches no one."""
        return False

    async def send_direct(
        self, recipient: Recipient, view: View, *, key: str | None = None
    ) -> None:
        raise RuntimeError("no platform is connected in this process")

    async def delivered(self, recipient: Recipient, key: str, *, round_id: int) -> bool | None:
        return None

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        return None
