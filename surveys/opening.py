"""Opening rounds: a team's round and its outbox rows, for one team or many in one transaction.

The scheduler opens every due team's round at the team's time (a trust's Monday: 600 wards at
10:00), so rounds are opened several at a time (``open_rounds``): one transaction reads what it
needs for the whole batch in a handful of queries (open rounds, sequences, members, schedules),
takes the week's lock once, and writes the rounds and their outbox rows together.  Opening one
round (a manager's ``pulse send``) is a batch of one.

What holds for every team, in one round or many per transaction:

* one round open per team: a team with an open round is skipped (``RoundError``), read in the
  same transaction; the unique ``(team, sequence)`` key stops two processes opening the same
  round (the caller then opens that batch's teams one at a time, so one race costs one team);
* a scheduled round opens only while the team is still due (``due``, given the day its last
  round opened, read in the same transaction): a ``pulse send`` that came in between wins;
* the round counts in this week (``rollup.report_week_for``: on PostgreSQL the week's shared
  lock, held until the caller commits, so a cut of the week waits for the rounds);
* one outbox row per (round, person), due when the person may be sent it
  (``surveys/schedules.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.lists import one_of
from storage.models import (
    Delivery,
    DeliveryStatus,
    Membership,
    Participation,
    PulseRound,
    Role,
    Team,
)
from surveys import outbox, rollup, schedules
from surveys.bank import plan_round
from surveys.rounds import RoundError, team_cycle

# whether a scheduled round is still due, given the day the team's last round opened
StillDue = Callable[[Team, date | None], bool]


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


@dataclass(frozen=True)
class _Batch:
    """What one transaction reads about its teams, in a handful of queries."""

    busy: set[int]  # teams with an open round
    latest: dict[int, tuple[int, date]]  # team -> (its last sequence, the day it opened)
    members: dict[int, list[int]]  # team -> its members' person ids, in id order


async def _read(session: AsyncSession, team_ids: list[int]) -> _Batch:
    in_batch = one_of(session, col(PulseRound.team_id), team_ids)
    busy = select(PulseRound.team_id).where(in_batch, col(PulseRound.closed).is_(False))
    latest = (
        select(PulseRound.team_id, func.max(PulseRound.sequence), func.max(PulseRound.opened_on))
        .where(in_batch)
        .group_by(col(PulseRound.team_id))
    )
    members = (
        select(Membership.team_id, Membership.person_id)
        .where(
            one_of(session, col(Membership.team_id), team_ids),
            Membership.role == Role.MEMBER,
        )
        .order_by(col(Membership.person_id))
    )
    by_team: dict[int, list[int]] = {}
    for team_id, person_id in (await session.exec(members)).all():
        by_team.setdefault(team_id, []).append(person_id)
    return _Batch(
        busy=set((await session.exec(busy)).all()),
        latest={t: (s, d) for t, s, d in (await session.exec(latest)).all()},
        members=by_team,
    )


def _refusal(team: Team, batch: _Batch, due: StillDue | None) -> RoundError | None:
    """Why this team's round can't open now (None: it can)."""
    assert team.id is not None
    if team.id in batch.busy:
        return RoundError(f"{team.name} already has an open pulse.")
    if not batch.members.get(team.id):
        return RoundError(f"{team.name} has no members to ask.")
    last = batch.latest.get(team.id)
    if due is not None and not due(team, last[1] if last else None):
        return RoundError(f"{team.name}'s pulse is no longer due.")
    return None


async def open_rounds(
    session: AsyncSession,
    teams: Sequence[Team],
    today: date,
    round_days: int,
    timing: Timing,
    due: StillDue | None = None,
) -> list[OpenedRound | RoundError]:
    """Open a round for each team and queue one outbox row per member (committed by the caller,
    which wakes every replica's sender: ``outbox.notify``), each due when its person may be sent
    it (``queue_deliveries``); per team, in order, the round opened or why not.  ``round_days``:
    the deployment's length, for a team without its own; ``due``: open only teams still due.

    The rounds count in this week (``rollup.report_week_for``), whose results are cut once the
    week is over and every round counted in it has closed.  An ``IntegrityError`` (another
    process opened one of these rounds meanwhile) leaves the whole batch to the caller."""
    ids = [team.id for team in teams if team.id is not None]
    batch = await _read(session, ids)
    outcomes: list[OpenedRound | RoundError | None] = [_refusal(t, batch, due) for t in teams]
    opening = [team for team, outcome in zip(teams, outcomes, strict=True) if outcome is None]
    if opening:
        opened = iter(await _open(session, opening, batch, today, round_days, timing))
        outcomes = [next(opened) if outcome is None else outcome for outcome in outcomes]
    return [outcome for outcome in outcomes if outcome is not None]


async def _open(
    session: AsyncSession,
    teams: list[Team],
    batch: _Batch,
    today: date,
    round_days: int,
    timing: Timing,
) -> list[OpenedRound]:
    cycle = await team_cycle(session)
    week = await rollup.report_week_for(session, today)
    # One question set per team and round.  Splitting a team into question groups would give
    # variety within a round, but the statements on a card would then tell its group, and with
    # the participation record (who answered) a group's few respondents could be told apart:
    # see docs/anonymity.md.  Variety comes across rounds instead.
    groups = 1
    opened = []
    for team in teams:
        assert team.id is not None
        sequence = batch.latest.get(team.id, (0, today))[0] + 1
        plan = plan_round(cycle, sequence, team.questions_per_pulse, groups)
        opened.append(
            PulseRound(
                team_id=team.id,
                sequence=sequence,
                opened_on=today,
                closes_on=today + timedelta(days=team.round_days or round_days),
                report_week=week,
                plan=json.dumps(plan.groups),
            )
        )
    session.add_all(opened)
    await session.flush()
    session.add_all(Participation(round_id=r.id) for r in opened if r.id is not None)
    people = [batch.members[team.id or 0] for team in teams]
    queued = await queue_deliveries(session, list(zip(teams, opened, people, strict=True)), timing)
    await outbox.notify(session)
    return [
        OpenedRound(round=r, invited=n, away=len(ids) - n)
        for r, n, ids in zip(opened, queued, people, strict=True)
    ]


async def queue_deliveries(
    session: AsyncSession,
    rounds: Sequence[tuple[Team, PulseRound, list[int]]],
    timing: Timing,
) -> list[int]:
    """For each (team, round, member ids): one outbox row per member who can be sent the pulse
    before it closes, due at their first allowed moment (``surveys/schedules.py``); returns how
    many were queued per round.  One ``INSERT`` with many parameter sets (thousands of rows on
    a trust's Monday: ORM objects would cost seconds)."""
    available = await schedules.availabilities(session, [t.id for t, *_ in rounds if t.id])
    rows: list[dict[str, Any]] = []
    queued = []
    for team, pulse_round, ids in rounds:
        assert pulse_round.id is not None
        tz = ZoneInfo(team.timezone or timing.default_tz)
        closes = schedules.round_closes(pulse_round, timing.default_tz)
        before = len(rows)
        for person_id in ids:
            due = schedules.due_time(
                available.get(person_id, schedules.Availability()),
                tz,
                timing.start,
                spread_key=schedules.spread_seconds(pulse_round.id, person_id),
                spread=timing.spread,
                closes=closes,
            )
            if due is not None:
                rows.append(_delivery(pulse_round.id, person_id, due))
        queued.append(len(rows) - before)
    if rows:
        await (await session.connection()).execute(insert(Delivery), rows)
    return queued


def _delivery(round_id: int, person_id: int, due: datetime) -> dict[str, Any]:
    return {
        "round_id": round_id,
        "person_id": person_id,
        "group_index": 0,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": due,
    }
