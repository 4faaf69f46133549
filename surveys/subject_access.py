"""What teampulse holds about one person, for a subject access request (``teampulse person show``).

Everything keyed to their person row: the directory entry, memberships, platform accounts and
references, their own pulse times, the pulses and reminders they were sent, and the kudos they gave
or received (the words, value and day; other people in a kudos are left out, as third parties).
Their answers are not here because nothing links an answer to a person (docs/anonymity.md); the
participation hashes say only which rounds they answered, and only with the secret, so they are
not read here either.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    ConversationReference,
    Delivery,
    Membership,
    Organisation,
    Person,
    PersonSchedule,
    PlatformIdentity,
    PulseRound,
    Recognition,
    RecognitionRecipient,
    Reminder,
    Team,
)
from surveys.directory import normalise_email

NOT_HELD = (
    "Pulse answers and comments: none can be given, because nothing stored links an answer to "
    "the person who gave it (docs/anonymity.md)."
)


async def person_data(session: AsyncSession, email: str) -> dict[str, Any] | None:
    """The person's data as plain JSON-ready values; None when no one has ``email``."""
    found = await session.exec(select(Person).where(Person.email == normalise_email(email)))
    person = found.first()
    if person is None or person.id is None:
        return None
    organisation = await session.get(Organisation, person.organisation_id)
    return {
        "person": {
            "email": person.email,
            "name": person.display_name,
            "organisation": organisation.name if organisation else None,
        },
        "teams": await _teams(session, person.id),
        "platform_accounts": await _accounts(session, person.id),
        "pulse_times": await _schedule(session, person.id),
        "pulses_sent": await _deliveries(session, person.id),
        "reminders": await _reminders(session, person.id),
        "kudos_given": await _kudos(session, col(Recognition.giver_id) == person.id),
        "kudos_received": await _kudos(session, col(Recognition.id).in_(_received(person.id))),
        "not_held": NOT_HELD,
    }


async def _teams(session: AsyncSession, person_id: int) -> list[dict[str, Any]]:
    query = (
        select(Team.name, Membership.role)
        .join(Membership, col(Membership.team_id) == col(Team.id))
        .where(Membership.person_id == person_id)
        .order_by(col(Team.name))
    )
    return [{"team": name, "role": role} for name, role in await session.exec(query)]


async def _accounts(session: AsyncSession, person_id: int) -> list[dict[str, Any]]:
    identities = await session.exec(
        select(PlatformIdentity).where(PlatformIdentity.person_id == person_id)
    )
    references = await session.exec(
        select(ConversationReference).where(ConversationReference.person_id == person_id)
    )
    kept = {ref.platform: json.loads(ref.reference) for ref in references}
    return [
        {"platform": i.platform, "account": i.external_id, "reference": kept.get(i.platform, {})}
        for i in identities
    ]


async def _schedule(session: AsyncSession, person_id: int) -> dict[str, Any] | None:
    schedule = await session.get(PersonSchedule, person_id)
    if schedule is None:
        return None
    return {
        "pattern": schedule.pattern,
        "quiet_start": schedule.quiet_start,
        "quiet_end": schedule.quiet_end,
        "away_until": schedule.away_until.isoformat() if schedule.away_until else None,
    }


async def _deliveries(session: AsyncSession, person_id: int) -> list[dict[str, Any]]:
    query = (
        select(
            col(Team.name), col(PulseRound.opened_on), col(Delivery.status), col(Delivery.sent_at)
        )
        .join(PulseRound, col(PulseRound.id) == col(Delivery.round_id))
        .join(Team, col(Team.id) == col(PulseRound.team_id))
        .where(Delivery.person_id == person_id)
        .order_by(col(PulseRound.opened_on))
    )
    return [
        {
            "team": team,
            "opened_on": opened.isoformat(),
            "status": status,
            "sent_at": sent.isoformat() if sent else None,
        }
        for team, opened, status, sent in await session.exec(query)
    ]


async def _reminders(session: AsyncSession, person_id: int) -> list[dict[str, Any]]:
    query = (
        select(col(PulseRound.opened_on), col(Reminder.done))
        .join(PulseRound, col(PulseRound.id) == col(Reminder.round_id))
        .where(Reminder.person_id == person_id)
        .order_by(col(PulseRound.opened_on))
    )
    return [
        {"pulse_opened_on": opened.isoformat(), "done": done}
        for opened, done in await session.exec(query)
    ]


def _received(person_id: int) -> Any:
    return (
        select(RecognitionRecipient.recognition_id)
        .where(RecognitionRecipient.person_id == person_id)
        .scalar_subquery()
    )


async def _kudos(session: AsyncSession, which: Any) -> list[dict[str, Any]]:
    """Kudos as day, value and words: the other people in them are not this person's data."""
    query = select(Recognition).where(which).order_by(col(Recognition.created_at))
    return [
        {"day": kudos.created_on.isoformat(), "value": kudos.value, "message": kudos.message}
        for kudos in await session.exec(query)
    ]
