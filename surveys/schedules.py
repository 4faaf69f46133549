"""When a person may be sent a pulse: their working pattern, quiet hours and leave.

The rule (docs/architecture.md, "Scheduling"):

* **days** (the default): any time of day outside the person's quiet hours;
* **nights**: 19:00 to 21:00 local, before a night shift, outside quiet hours (so a night nurse is
  never woken by a pulse at 10:00);
* **away until a day**: nothing on or before that day; the first pulse comes the day after, at
  the time of day it would have come;
* a delivery is due at the first allowed moment on or after the team's send time, plus an offset
  within the first ``SPREAD`` of that allowed stretch, fixed per (round, person) by a hash (so every
  replica works out the same time, and a trust's Monday pulses don't all leave at 10:00:00);
* a delivery that could only be due after its round closes is not queued at all.

Times are local to the team's timezone, so clock changes (late March, late October) move nothing
in local time.  The hash has no key and no relation to the participation digests: a due time
tells nothing about who answered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.lists import one_of
from storage.models import (
    Delivery,
    DeliveryStatus,
    Membership,
    PersonSchedule,
    PulseRound,
    Role,
    Team,
)

DAYS = "days"
NIGHTS = "nights"
NIGHT_WINDOW = (time(19, 0), time(21, 0))
SPREAD = timedelta(hours=1)
HORIZON_DAYS = 60  # how far ahead an allowed moment is looked for
_DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class Availability:
    """A person's own schedule (``PersonSchedule``), as the rules read it."""

    pattern: str = DAYS
    quiet: tuple[time, time] | None = None
    away_until: date | None = None

    @classmethod
    def of(cls, row: PersonSchedule | None) -> Availability:
        if row is None:
            return cls()
        quiet = None
        if row.quiet_start and row.quiet_end:
            quiet = (time.fromisoformat(row.quiet_start), time.fromisoformat(row.quiet_end))
        return cls(row.pattern, quiet, row.away_until)


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _day_ranges(availability: Availability) -> list[tuple[int, int]]:
    """The allowed minutes of a local day, as [start, end) ranges."""
    if availability.pattern == NIGHTS:
        allowed = [(_minutes(NIGHT_WINDOW[0]), _minutes(NIGHT_WINDOW[1]))]
    else:
        allowed = [(0, _DAY_MINUTES)]
    if availability.quiet is None:
        return allowed
    start, end = (_minutes(moment) for moment in availability.quiet)
    quiet = [(start, end)] if start < end else [(start, _DAY_MINUTES), (0, end)]
    for q_start, q_end in quiet:
        allowed = [
            piece
            for a_start, a_end in allowed
            for piece in ((a_start, min(a_end, q_start)), (max(a_start, q_end), a_end))
            if piece[0] < piece[1]
        ]
    return sorted(allowed)


def ever_allowed(availability: Availability) -> bool:
    """Whether any time of day is left for a pulse (quiet hours may cover a night window)."""
    return bool(_day_ranges(availability))


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """A local wall-clock moment (minute 1440 is the next midnight)."""
    moment = datetime.combine(day, time(), tzinfo=tz) + timedelta(minutes=minute)
    return moment.astimezone(ZoneInfo("UTC"))


@lru_cache(maxsize=1024)
def allowed_stretches(
    availability: Availability, tz: ZoneInfo, first_day: date, days: int
) -> tuple[tuple[datetime, datetime], ...]:
    """The allowed stretches of time (UTC) over ``days`` local days, touching ones joined.
    Kept for the schedules seen lately: opening a round works this out for every member, and
    most members of a team share one schedule and one first day."""
    ranges = _day_ranges(availability)
    stretches: list[tuple[datetime, datetime]] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if availability.away_until is not None and day <= availability.away_until:
            continue
        for start, end in ranges:
            begin, finish = _local(day, start, tz), _local(day, end, tz)
            if stretches and stretches[-1][1] >= begin:
                stretches[-1] = (stretches[-1][0], max(finish, stretches[-1][1]))
            elif begin < finish:
                stretches.append((begin, finish))
    return tuple(stretches)


def spread_seconds(round_id: int, person_id: int) -> int:
    """A fixed pseudo-random number for a (round, person), the same on every replica."""
    digest = hashlib.blake2b(f"spread:{round_id}:{person_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def due_time(
    availability: Availability,
    tz: ZoneInfo,
    start: datetime,
    *,
    spread_key: int = 0,
    spread: timedelta = SPREAD,
    closes: datetime | None = None,
) -> datetime | None:
    """When a delivery is due: the first allowed moment on or after ``start``, plus
    ``spread_key`` seconds modulo the spread (kept inside that allowed stretch); ``None`` when
    there is none before ``closes``.  Someone back from leave is due from the same time of day
    on the day they are back (not at midnight)."""
    local = start.astimezone(tz)
    away = availability.away_until
    if away is not None and local.date() <= away:
        back = datetime.combine(away + timedelta(days=1), local.time(), tzinfo=tz)
        start = back.astimezone(ZoneInfo("UTC"))
    first_day = start.astimezone(tz).date() - timedelta(days=1)
    for begin, finish in allowed_stretches(availability, tz, first_day, HORIZON_DAYS):
        if finish <= start:
            continue
        begin = max(begin, start)
        room = int(min(spread, finish - begin).total_seconds())
        due = begin + timedelta(seconds=spread_key % room if room > 0 else 0)
        return None if closes is not None and due >= closes else due
    return None


# -- storage ----------------------------------------------------------------------------------


async def schedule_of(session: AsyncSession, person_id: int) -> PersonSchedule:
    """The person's row (a new, unsaved default if they have set nothing)."""
    row = await session.get(PersonSchedule, person_id)
    return row or PersonSchedule(person_id=person_id)


async def availabilities(session: AsyncSession, team_ids: list[int]) -> dict[int, Availability]:
    """The schedules the teams' members have set, by person (most have set none: they are left
    out, ``Availability()``).  Read through the teams, so the statement grows with the number
    of teams opened together, not with their people."""
    query = (
        select(PersonSchedule)
        .join(Membership, col(Membership.person_id) == col(PersonSchedule.person_id))
        .where(one_of(session, col(Membership.team_id), team_ids), Membership.role == Role.MEMBER)
    )
    return {row.person_id: Availability.of(row) for row in (await session.exec(query)).all()}


async def reschedule_pending(
    session: AsyncSession, person_id: int, now: datetime, default_tz: str
) -> None:
    """After a person changes their schedule: their pulses not yet sent (nor tried) follow it,
    from now; one that could now come only after its round closes is taken off the outbox (a
    round closes at the start of its ``closes_on`` day, in the deployment's ``default_tz``)."""
    query = (
        select(Delivery, PulseRound, Team)
        .join(PulseRound, col(PulseRound.id) == col(Delivery.round_id))
        .join(Team, col(Team.id) == col(PulseRound.team_id))
        .where(
            Delivery.person_id == person_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.attempts == 0,
            col(PulseRound.closed).is_(False),
        )
        # a row being sent right now (locked by the sender) is left to go
        .with_for_update(skip_locked=True, of=Delivery)
    )
    availability = Availability.of(await session.get(PersonSchedule, person_id))
    for delivery, pulse_round, team in (await session.exec(query)).all():
        closes = round_closes(pulse_round, default_tz)
        tz = ZoneInfo(team.timezone or default_tz)
        due = due_time(availability, tz, now, spread=timedelta(0), closes=closes)
        if due is None:
            await session.delete(delivery)
        else:
            delivery.next_attempt_at = due
            session.add(delivery)


def round_closes(pulse_round: PulseRound, default_tz: str) -> datetime:
    """The moment a round closes: the start of its ``closes_on`` day (the scheduler closes
    rounds whose day has come, in the deployment's timezone)."""
    return datetime.combine(pulse_round.closes_on, time(), tzinfo=ZoneInfo(default_tz))
