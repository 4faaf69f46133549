"""Pulse rounds and the delivery outbox."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Delivery,
    DeliveryStatus,
    Participation,
    Person,
    PulseRound,
    Question,
    Response,
    Team,
)
from surveys import directory, outbox, rollup, schedules
from surveys.bank import interleave_by_theme, load_bank, plan_round

MAX_ROUND_ID = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL


def is_round_id(value: object) -> bool:
    """Whether a value sent back by a form could be a round's id: a positive int within the
    database's integer range (a larger one would fail in the driver rather than be refused)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ROUND_ID


class RoundError(Exception):
    """A round cannot be opened or closed; the message is shown to the user."""


@dataclass(frozen=True)
class OpenedRound:
    round: PulseRound
    invited: int
    away: int = 0  # members not asked: on leave until after the round closes


@dataclass(frozen=True)
class Timing:
    """When a round's pulses go out: from ``start`` (the team's send time, or now), spread over
    ``spread`` (``surveys/schedules.py``); ``default_tz`` is the deployment's timezone (a team's
    own when it has none; rounds close at the start of their day in it)."""

    start: datetime
    default_tz: str
    spread: timedelta = timedelta(0)


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


async def open_round(
    session: AsyncSession, team: Team, today: date, round_days: int, timing: Timing
) -> OpenedRound:
    """Open a round for a team and queue one outbox row per member (committed by the caller,
    which wakes every replica's sender: ``outbox.notify``), each due when its person may be sent
    it (``queue_deliveries``).  ``round_days``: the deployment's length, for a team without its
    own.

    It counts in this week (``rollup.report_week_for``), whose results are cut once the week is
    over and every round counted in it has closed."""
    assert team.id is not None
    if await open_round_for(session, team.id) is not None:
        raise RoundError(f"{team.name} already has an open pulse.")
    people = await directory.members(session, team.id)
    if not people:
        raise RoundError(f"{team.name} has no members to ask.")
    last = await session.exec(
        select(func.max(PulseRound.sequence)).where(PulseRound.team_id == team.id)
    )
    sequence = (last.first() or 0) + 1
    # One question set per team and round.  Splitting a team into question groups would give
    # variety within a round, but the statements on a card would then tell its group, and with the
    # participation record (who answered) a group's few respondents could be told apart: see
    # docs/anonymity.md.  Variety comes across rounds instead.
    groups = 1
    plan = plan_round(await team_cycle(session), sequence, team.questions_per_pulse, groups)
    pulse_round = PulseRound(
        team_id=team.id,
        sequence=sequence,
        opened_on=today,
        closes_on=today + timedelta(days=team.round_days or round_days),
        report_week=await rollup.report_week_for(session, today),
        plan=json.dumps(plan.groups),
    )
    session.add(pulse_round)
    await session.flush()
    assert pulse_round.id is not None
    session.add(Participation(round_id=pulse_round.id))
    queued = await queue_deliveries(session, team, pulse_round, people, timing)
    await outbox.notify(session)
    return OpenedRound(round=pulse_round, invited=queued, away=len(people) - queued)


async def queue_deliveries(
    session: AsyncSession,
    team: Team,
    pulse_round: PulseRound,
    people: list[Person],
    timing: Timing,
) -> int:
    """One outbox row per member who can be sent the pulse before it closes, due at their first
    allowed moment (``surveys/schedules.py``); returns how many were queued."""
    assert pulse_round.id is not None
    tz = ZoneInfo(team.timezone or timing.default_tz)
    closes = schedules.round_closes(pulse_round, timing.default_tz)
    ids = [person.id for person in people if person.id is not None]
    available = await schedules.availabilities(session, ids)
    queued = 0
    for person_id in ids:
        due = schedules.due_time(
            available[person_id],
            tz,
            timing.start,
            spread_key=schedules.spread_seconds(pulse_round.id, person_id),
            spread=timing.spread,
            closes=closes,
        )
        if due is None:
            continue
        session.add(Delivery(round_id=pulse_round.id, person_id=person_id, next_attempt_at=due))
        queued += 1
    return queued


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
