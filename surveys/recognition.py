"""Kudos: recognition between colleagues, tagged with a value."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Person, Recognition, RecognitionRecipient, Team
from surveys import directory

# The NHS People Promise, as short tags (TEAMPULSE_KUDOS_VALUES overrides).
DEFAULT_VALUES: dict[str, str] = {
    "compassion": "We are compassionate and inclusive",
    "recognised": "We are recognised and rewarded",
    "voice": "We each have a voice that counts",
    "safe": "We are safe and healthy",
    "learning": "We are always learning",
    "flexible": "We work flexibly",
    "teamwork": "We are a team",
}
MAX_MESSAGE = 500


@dataclass(frozen=True)
class GivenKudos:
    recognition: Recognition
    recipients: list[Person]
    teams: list[Team]


async def _primary_team(session: AsyncSession, person_id: int) -> Team | None:
    teams = await directory.teams_of(session, person_id)
    return teams[0] if teams else None


async def give(
    session: AsyncSession,
    giver: Person,
    recipients: list[Person],
    message: str,
    value: str,
    now: datetime,
    *,
    day: date | None = None,
) -> GivenKudos:
    """``day``: the day it counts in (default ``now``'s date).  The service gives the
    organisation's day, which its week's cut counts by (``surveys/kudos_counts.py``): dated by a
    clock in another zone, a kudos given just after midnight could land in a week already cut."""
    assert giver.id is not None
    giver_team = await _primary_team(session, giver.id)
    recognition = Recognition(
        organisation_id=giver.organisation_id,
        giver_id=giver.id,
        team_id=giver_team.id if giver_team else None,
        message=message,
        value=value,
        created_on=day or now.date(),
        created_at=now,
    )
    session.add(recognition)
    await session.flush()
    assert recognition.id is not None
    teams: dict[int, Team] = {}
    for person in recipients:
        assert person.id is not None
        team = await _primary_team(session, person.id)
        if team is not None and team.id is not None:
            teams[team.id] = team
        session.add(
            RecognitionRecipient(
                recognition_id=recognition.id,
                person_id=person.id,
                team_id=team.id if team else None,
            )
        )
    await session.commit()
    return GivenKudos(recognition=recognition, recipients=recipients, teams=list(teams.values()))


async def counts_by_value(
    session: AsyncSession,
    team_ids: Collection[int] | Select[Any],
    since: datetime,
    *,
    given: bool = False,
) -> list[tuple[str, int]]:
    """Recognition received (or given) by the teams since a date, per value.  ``team_ids`` may
    be a query of them (``directory.subtree_query``): a trust's 2,000 ids are then not sent as
    2,000 parameters."""
    if given:
        query = (
            select(Recognition.value, func.count(col(Recognition.id)))
            .where(
                col(Recognition.team_id).in_(team_ids),
                col(Recognition.created_on) >= since.date(),
            )
            .group_by(Recognition.value)
            .order_by(Recognition.value)
        )
        return [(value, count) for value, count in (await session.exec(query)).all()]
    query = (
        select(Recognition.value, func.count(func.distinct(Recognition.id)))
        .join(RecognitionRecipient, col(RecognitionRecipient.recognition_id) == col(Recognition.id))
        .where(
            col(RecognitionRecipient.team_id).in_(team_ids),
            col(Recognition.created_on) >= since.date(),
        )
        .group_by(Recognition.value)
        .order_by(Recognition.value)
    )
    return [(value, count) for value, count in (await session.exec(query)).all()]


@dataclass(frozen=True)
class KudosLine:
    """One kudos as a person sees it in their own history: who it was from or to."""

    people: tuple[str, ...]
    message: str
    value: str
    day: date


async def recent_for_person(
    session: AsyncSession, person_id: int, *, given: bool, limit: int = 5
) -> list[KudosLine]:
    """The person's latest kudos received (or given), newest first, with the other people."""
    if given:
        query = select(Recognition).where(Recognition.giver_id == person_id)
    else:
        query = (
            select(Recognition)
            .join(
                RecognitionRecipient,
                col(RecognitionRecipient.recognition_id) == col(Recognition.id),
            )
            .where(RecognitionRecipient.person_id == person_id)
        )
    query = query.order_by(col(Recognition.created_at).desc(), col(Recognition.id).desc())
    lines = []
    for kudos in (await session.exec(query.limit(limit))).all():
        if given:
            others = select(Person.display_name).join(
                RecognitionRecipient, col(RecognitionRecipient.person_id) == col(Person.id)
            )
            others = others.where(RecognitionRecipient.recognition_id == kudos.id)
            names = tuple((await session.exec(others.order_by(Person.display_name))).all())
        else:
            giver = await session.get(Person, kudos.giver_id)
            names = (giver.display_name,) if giver else ()
        lines.append(KudosLine(names, kudos.message, kudos.value, kudos.created_on))
    return lines
