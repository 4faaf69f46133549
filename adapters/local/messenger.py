"""The local platform: each person's inbox and each team's celebration feed, in memory.

Pulse cards are not kept here: a person's waiting pulse is always read from the database
(``TeamPulse.pending_pulses``), so nothing is lost when the process restarts.
"""

from __future__ import annotations

from collections import defaultdict, deque

from bot.ports import Recipient, TeamTarget
from bot.views import PulseCard, TextReply, View

FEED_SIZE = 50


class LocalMessenger:
    # the web chat has no accounts: anyone in the organisation can open it as themselves, so it
    # reaches everyone and is tried after the platforms that may know them (``knows``: never)
    reaches_everyone = True

    def __init__(self) -> None:
        self.inbox: defaultdict[str, deque[View]] = defaultdict(lambda: deque(maxlen=FEED_SIZE))
        self.feeds: defaultdict[str, deque[View]] = defaultdict(lambda: deque(maxlen=FEED_SIZE))
        self.delivered_pulses: defaultdict[str, set[int]] = defaultdict(set)

    async def knows(self, recipient: Recipient) -> bool:
        return False

    async def send_direct(
        self, recipient: Recipient, view: View, *, key: str | None = None
    ) -> None:
        if isinstance(view, PulseCard):
            self.delivered_pulses[recipient.email].add(view.round_id)
            if view.reminder:
                self.inbox[recipient.email].append(
                    TextReply(
                        f"Reminder: your {view.team} pulse closes on {view.closes_on}. "
                        "Say `pulse` to answer it (it takes under a minute)."
                    )
                )
            return
        self.inbox[recipient.email].append(view)

    async def to_inbox(self, email: str, view: View) -> None:
        """A reply that comes after its request (the outcome of answers still being saved)."""
        self.inbox[email].append(view)

    async def delivered(self, recipient: Recipient, key: str, *, round_id: int) -> bool | None:
        """The local chat keeps no keys: a send whose outcome is unknown is sent again."""
        return None

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        self.feeds[team.name].append(view)

    def take_inbox(self, email: str) -> list[View]:
        views = list(self.inbox[email])
        self.inbox[email].clear()
        return views
