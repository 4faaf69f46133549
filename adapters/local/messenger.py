"""The local platform: each person's inbox and each team's celebration feed, in memory.

Pulse cards are not kept here: a person's waiting pulse is always read from the database
(``TeamPulse.pending_pulses``), so nothing is lost when the process restarts.
"""

from __future__ import annotations

from collections import defaultdict, deque

from bot.views import PulseCard, TextReply, View
from storage.models import Person, Team

FEED_SIZE = 50


class LocalMessenger:
    def __init__(self) -> None:
        self.inbox: defaultdict[str, deque[View]] = defaultdict(lambda: deque(maxlen=FEED_SIZE))
        self.feeds: defaultdict[str, deque[View]] = defaultdict(lambda: deque(maxlen=FEED_SIZE))
        self.delivered_pulses: defaultdict[str, set[int]] = defaultdict(set)

    async def send_direct(self, person: Person, view: View) -> None:
        if isinstance(view, PulseCard):
            self.delivered_pulses[person.email].add(view.round_id)
            if view.reminder:
                self.inbox[person.email].append(
                    TextReply(
                        f"Reminder: your {view.team} pulse closes on {view.closes_on}. "
                        "Say `pulse` to answer it (it takes under a minute)."
                    )
                )
            return
        self.inbox[person.email].append(view)

    async def post_to_team(self, team: Team, view: View) -> None:
        self.feeds[team.name].append(view)

    def take_inbox(self, email: str) -> list[View]:
        views = list(self.inbox[email])
        self.inbox[email].clear()
        return views
