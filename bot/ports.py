"""The seam between the core and the platforms: adapters implement ``Messenger``."""

from __future__ import annotations

from typing import Protocol

from bot.views import View
from storage.models import Person, Team


class Messenger(Protocol):
    """Pushes views to people and team channels (scheduled pulses, kudos, reports)."""

    async def send_direct(self, person: Person, view: View) -> None:
        """Send a direct message.  Raise to have the outbox retry later."""

    async def post_to_team(self, team: Team, view: View) -> None:
        """Post to the team's celebration channel (a no-op when the team has none)."""


class NullMessenger:
    """Used by the CLI when no platform is running: the outbox keeps rows for the server."""

    async def send_direct(self, person: Person, view: View) -> None:
        raise RuntimeError("no platform is connected in this process")

    async def post_to_team(self, team: Team, view: View) -> None:
        return None
