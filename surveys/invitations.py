"""The pulses sent, as a batch of submitted cards needs them: one statement per batch.

A card is taken only if its round sent a pulse to its person (a ``Delivery``) and is still open.
The batch reads its invitations with a shared lock on their rounds (a round closing waits for the
answers being stored to it, and answers wait for a closing: none is stored to a round after it
closed, and after its closing flush), as plain columns (no ORM objects), with each round's team
name for the receipt.  ``by_email`` finds the people in the same statement: a group commit's
round trips are its latency, and every batch used to ask for its people, its invitations and its
teams one after the other."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import on_postgresql
from storage.lists import any_of, distinct
from storage.models import Delivery, Person, PulseRound, Team
from surveys.directory import normalise_email, person_ids_by_email

Key = tuple[int, int]  # (round id, person id)


@dataclass(frozen=True)
class Invitation:
    """A pulse sent: its round (what the answers' checks and rows need), the person's question
    group and the team's name."""

    round_id: int
    team_id: int
    closed: bool
    plan: str
    group_index: int
    team: str

    def questions(self) -> list[str]:
        groups: list[list[str]] = json.loads(self.plan)
        return groups[self.group_index % len(groups)]


_COLUMNS = (
    col(PulseRound.id),
    col(PulseRound.team_id),
    col(PulseRound.closed),
    col(PulseRound.plan),
    col(Delivery.group_index),
    col(Team.name),
)


async def by_person(session: AsyncSession, pairs: Iterable[Key]) -> dict[Key, Invitation]:
    """(round, person) -> the invitation, for those of these pairs that were sent a pulse."""
    wanted = list(pairs)
    params = {
        "round_ids": distinct(round_id for round_id, _ in wanted),
        "person_ids": distinct(person for _, person in wanted),
    }
    connection = await session.connection()
    rows = await connection.execute(_by_person_query(on_postgresql(session)), params)
    return {(row[0], row[6]): Invitation(*row[:6]) for row in rows}


async def by_email(
    session: AsyncSession, pairs: Iterable[tuple[int, str]]
) -> tuple[dict[str, int], dict[Key, Invitation]]:
    """For (round, email) pairs: the people found (email as stored -> person id) and
    (round, person) -> the invitation.  People without any of these invitations (not sent the
    pulse, or not in the organisation) are looked up by a second statement, which only such a
    batch pays."""
    wanted = list(pairs)
    params = {
        "round_ids": distinct(round_id for round_id, _ in wanted),
        "emails": distinct(normalise_email(email) for _, email in wanted),
    }
    connection = await session.connection()
    people: dict[str, int] = {}
    found: dict[Key, Invitation] = {}
    for row in await connection.execute(_by_email_query(on_postgresql(session)), params):
        people[row[7]] = row[6]
        found[(row[0], row[6])] = Invitation(*row[:6])
    rest = {email for _, email in wanted} - set(people)
    if rest:
        people |= await person_ids_by_email(session, rest)
    return people, found


# The batch's statements are built once per database kind (``@cache``, their values bound when
# they run): building one, and SQLAlchemy working out its cache key, cost more CPU than running
# it (docs/performance.md, "Statements built once").
@cache
def _by_person_query(pg: bool) -> Select[Any]:
    return (
        select(*_COLUMNS, col(Delivery.person_id))
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .join(Team, col(Team.id) == col(PulseRound.team_id))
        .where(
            any_of(col(PulseRound.id), "round_ids", pg),
            any_of(col(Delivery.person_id), "person_ids", pg),
        )
        .with_for_update(read=True, of=PulseRound)
    )


@cache
def _by_email_query(pg: bool) -> Select[Any]:
    return (
        select(*_COLUMNS, col(Delivery.person_id), col(Person.email))
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .join(Person, col(Person.id) == col(Delivery.person_id))
        .join(Team, col(Team.id) == col(PulseRound.team_id))
        .where(
            any_of(col(PulseRound.id), "round_ids", pg),
            any_of(col(Person.email), "emails", pg),
        )
        .with_for_update(read=True, of=PulseRound)
    )
