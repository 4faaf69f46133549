"""``pulse me …``: a person's own pulse times (working pattern, quiet hours, leave), the same
words on every platform.  The rules they feed are in ``surveys/schedules.py``; a change moves the
person's pulses that have not gone yet."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from bot.views import TextReply
from storage.models import PersonSchedule
from surveys import schedules

if TYPE_CHECKING:
    from bot.service import TeamPulse

USAGE = (
    "Change them with `pulse me days`, `pulse me nights`, `pulse me quiet 22:00-07:00` (or "
    "`pulse me quiet off`), `pulse me away until 12 Dec` and `pulse me back`."
)
BAD_QUIET = "Give your quiet hours as two 24-hour times, like `pulse me quiet 22:00-07:00`."
BAD_DATE = (
    "I couldn't read that date. Say `pulse me away until 12 Dec` (or `12 December`, "
    "or `2026-12-12`)."
)
MAX_AWAY = timedelta(days=366)
_QUIET = re.compile(r"^(\d{1,2}:\d{2})\s*(?:-|\u2013|to)\s*(\d{1,2}:\d{2})$")


async def my_schedule(service: TeamPulse, email: str, args: str) -> TextReply:
    """Show (no words) or change (``days``, ``nights``, ``quiet …``, ``away until …``,
    ``back``) the asker's own pulse times."""
    words = args.lower().split()
    async with service.db.session() as session:
        person = await service.person(session, email)
        assert person.id is not None
        row = await schedules.schedule_of(session, person.id)
        if not words:
            return TextReply(describe(row))
        problem = change(row, words, service.today())
        if problem:
            return TextReply(problem, kind="error")
        session.add(row)
        await session.flush()
        await schedules.reschedule_pending(
            session, person.id, service.clock(), service.settings.timezone
        )
        await session.commit()
        return TextReply(describe(row), kind="success")


def change(row: PersonSchedule, words: list[str], today: date) -> str | None:
    """Apply one change to the row; returns a friendly problem, or None."""
    head, rest = words[0], " ".join(words[1:])
    problem = None
    if head in {schedules.DAYS, schedules.NIGHTS} and not rest:
        row.pattern = head
    elif head == "quiet":
        problem = _set_quiet(row, rest)
    elif head == "away":
        problem = _set_away(row, rest.removeprefix("until").strip(), today)
    elif head == "back" and not rest:
        row.away_until = None
    else:
        problem = f"Sorry, I didn't understand that. {USAGE}"
    if problem is None and not schedules.ever_allowed(schedules.Availability.of(row)):
        problem = "With those quiet hours no pulse could ever reach you: leave some time free."
    return problem


def _set_quiet(row: PersonSchedule, text: str) -> str | None:
    if text in {"off", "none"}:
        row.quiet_start = row.quiet_end = None
        return None
    match = _QUIET.match(text)
    if match is None:
        return BAD_QUIET
    try:
        start, end = (datetime.strptime(part, "%H:%M").time() for part in match.groups())
    except ValueError:
        return BAD_QUIET
    if start == end:
        return "Your quiet hours need to start and end at different times."
    row.quiet_start, row.quiet_end = f"{start:%H:%M}", f"{end:%H:%M}"
    return None


def _set_away(row: PersonSchedule, text: str, today: date) -> str | None:
    day = parse_day(text, today)
    if day is None:
        return BAD_DATE
    if day < today:
        return f"{day:%d %B %Y} has passed: give the last day you're away, from today on."
    if day > today + MAX_AWAY:
        return "You can set leave up to a year ahead."
    row.away_until = day
    return None


def parse_day(text: str, today: date) -> date | None:
    """``12 Dec``, ``12 December`` (the next such day, from today), ``12 Dec 2026`` or
    ``2026-12-12``; None if it is no date."""
    text = " ".join(text.split()).title()
    for pattern in ("%Y-%m-%d", "%d %b %Y", "%d %B %Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    for year in (today.year, today.year + 1):
        for pattern in ("%d %b %Y", "%d %B %Y"):
            try:
                day = datetime.strptime(f"{text} {year}", pattern).date()
            except ValueError:
                continue
            if day >= today:
                return day
    return None


def describe(row: PersonSchedule) -> str:
    availability = schedules.Availability.of(row)
    start, end = schedules.NIGHT_WINDOW
    pattern = (
        f"nights: pulses come between {start:%H:%M} and {end:%H:%M}"
        if availability.pattern == schedules.NIGHTS
        else "days: pulses come from your team's send time"
    )
    quiet = availability.quiet
    lines = [
        "*Your pulse times* (in your team's local time)",
        f"• Working pattern: {pattern}",
        f"• Quiet hours: {_span(quiet) if quiet else 'none'}",
        f"• Away: {_away(availability.away_until)}",
        USAGE,
    ]
    return "\n".join(lines)


def _span(quiet: tuple[time, time]) -> str:
    return f"{quiet[0]:%H:%M} to {quiet[1]:%H:%M} (no pulse then)"


def _away(until: date | None) -> str:
    if until is None:
        return "no"
    back = until + timedelta(days=1)
    return f"until {until:%a %d %B %Y}; no pulses until you're back on {back:%a %d %B}"
