"""A person's home page (``HomeView``): the same data on every platform."""

from __future__ import annotations

from bot.service import TeamPulse, UnknownPerson
from bot.views import HomeView, KudosItem
from storage.models import Role
from surveys import directory, recognition, responses

RECENT_KUDOS = 5


def _items(lines: list[recognition.KudosLine]) -> tuple[KudosItem, ...]:
    return tuple(
        KudosItem(line.people, line.message, line.value, f"{line.day:%d %b %Y}") for line in lines
    )


async def home(service: TeamPulse, email: str, not_known: str) -> HomeView:
    """Waiting pulses, streak and kudos of one person, for their eyes only."""
    try:
        cards = await service.pending_pulses(email)
    except UnknownPerson:
        return HomeView(name="", notice=not_known)
    async with service.db.session() as session:
        person = await service.person(session, email)
        assert person.id is not None
        streak = await responses.streak(session, person.id, service.answered)
        received = await recognition.recent_for_person(
            session, person.id, given=False, limit=RECENT_KUDOS
        )
        given = await recognition.recent_for_person(
            session, person.id, given=True, limit=RECENT_KUDOS
        )
        managed = await directory.teams_of(session, person.id, Role.MANAGER)
    return HomeView(
        name=person.display_name,
        pulses=tuple(cards),
        streak=streak,
        kudos_received=_items(received),
        kudos_given=_items(given),
        is_manager=bool(managed),
    )
