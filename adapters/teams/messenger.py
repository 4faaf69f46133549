"""What the core sends through Teams.  Proactive messages (scheduled pulses, kudos posts) come
with a later step; until then Teams reaches nobody on its own and the router tries the next
platform."""

from __future__ import annotations

from bot.ports import Recipient, TeamTarget, Unreachable
from bot.views import View


class TeamsMessenger:
    reaches_everyone = False

    async def knows(self, recipient: Recipient) -> bool:
        return False

    async def send_direct(self, recipient: Recipient, view: View) -> None:
        raise Unreachable("Teams sends no proactive messages yet")

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        return None
