"""Pulse rounds: the open one, closing them, what an operator sees of them (opening them and
queueing their outbox rows: ``surveys/opening.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Delivery,
    DeliveryStatus,
    PulseRound,
    Question,
    Response,
    Team,
)
from surveys.bank import interleave_by_theme, load_bank

MAX_ROUND_ID = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL


def is_round_id(value: object) -> bool:
    """Whether a value sent back by a form could be a round's id: a positive int within the
    database's integer range (a larger one would fail in the driver rather than be refused)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ROUND_ID


class RoundError(Exception):
    """A round cannot be opened or closed; the message is shown to the user."""


async def open_round_for(session: AsyncSession, team_id: int) -> PulseRound | None:
    query = select(PulseRound).where(
        PulseRound.team_id == team_id, col(PulseRound.closed).is_(False)
    )
    return (await session.exec(query)).first()


async def last_opened_by_team(session: AsyncSession) -> dict[int, date]:
    """The day each team's latest round opened (teams never sent a round are left out): one
    ``GROUP BY`` for the whole organisation, as the scheduler's minute tick reads it."""
    query = select(PulseRound.team_id, func.max(PulseRound.opened_on)).group_by(
        col(PulseRound.team_id)
    )
    return {team_id: day for team_id, day in (await session.exec(query)).all()}


async def teams_with_open_round(session: AsyncSession) -> set[int]:
    query = select(PulseRound.team_id).where(col(PulseRound.closed).is_(False)).distinct()
    return set((await session.exec(query)).all())


async def team_cycle(session: AsyncSession) -> list[str]:
    """The question set, interleaved by theme so each pulse mixes themes."""
    questions = (await session.exec(select(Question).where(col(Question.active).is_(True)))).all()
    bank_order = {q.id: i for i, q in enumerate(load_bank().questions)}
    ordered = sorted(questions, key=lambda q: bank_order.get(q.id, len(bank_order)))
    by_id = {q.id: q for q in load_bank().questions}
    return interleave_by_theme([by_id[q.id] for q in ordered if q.id in by_id])


async def close_round(session: AsyncSession, team: Team, today: date) -> PulseRound:
    """Close the team's open round now; closed earlier than planned, it closes on ``today``
    (the cut waits for the day after a week's last close: ``surveys/rollup.py``)."""
    assert team.id is not None
    pulse_round = await open_round_for(session, team.id)
    if pulse_round is None:
        raise RoundError(f"{team.name} has no open pulse.")
    pulse_round.closed = True
    pulse_round.closes_on = min(pulse_round.closes_on, today)
    session.add(pulse_round)
    return pulse_round


async def close_due_rounds(session: AsyncSession, today: date) -> list[PulseRound]:
    query = select(PulseRound).where(
        col(PulseRound.closed).is_(False), col(PulseRound.closes_on) <= today
    )
    due = list((await session.exec(query)).all())
    for pulse_round in due:
        pulse_round.closed = True
        session.add(pulse_round)
    return due


def questions_for(pulse_round: PulseRound, group_index: int) -> list[str]:
    groups: list[list[str]] = json.loads(pulse_round.plan)
    return groups[group_index % len(groups)]


async def respondent_count(session: AsyncSession, round_id: int) -> int:
    """The people who have answered a round: its cards (one per person), counted from the
    answers themselves."""
    query = select(func.count(func.distinct(col(Response.submission_id)))).where(
        col(Response.round_id) == round_id
    )
    return int((await session.exec(query)).one())


@dataclass(frozen=True)
class RoundCounts:
    invited: int
    sent: int
    pending: int
    failed: int
    answered: int


async def open_round_overview(session: AsyncSession) -> list[tuple[PulseRound, Team, RoundCounts]]:
    query = (
        select(PulseRound, Team)
        .join(Team, col(Team.id) == col(PulseRound.team_id))
        .where(col(PulseRound.closed).is_(False))
        .order_by(col(Team.name))
    )
    overview = []
    for pulse_round, team in (await session.exec(query)).all():
        statuses = (
            await session.exec(
                select(Delivery.status, func.count())
                .where(Delivery.round_id == pulse_round.id)
                .group_by(Delivery.status)
            )
        ).all()
        by_status = {status: count for status, count in statuses}
        assert pulse_round.id is not None
        counts = RoundCounts(
            invited=sum(by_status.values()),
            sent=by_status.get(DeliveryStatus.SENT, 0),
            pending=by_status.get(DeliveryStatus.PENDING, 0)
            + by_status.get(DeliveryStatus.UNCHECKED, 0),
            failed=by_status.get(DeliveryStatus.FAILED, 0),
            answered=await respondent_count(session, pulse_round.id),
        )
        overview.append((pulse_round, team, counts))
    return overview
