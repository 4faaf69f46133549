"""``pulse settings [team] KEY VALUE``: a team's schedule (cadence, day, time, timezone, round
length) and pulse size, checked here and described in the same words on every platform."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import available_timezones

from bot.settings import Settings
from storage.models import Team

SETTINGS_KEYS = {"questions", "day", "time", "cadence", "timezone", "length"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CADENCES = ("weekly", "fortnightly", "monthly")
MAX_ROUND_DAYS = 14


@cache
def _zones() -> dict[str, str]:
    """Lower-cased IANA name -> its proper spelling (``europe/london`` -> ``Europe/London``)."""
    return {name.lower(): name for name in available_timezones()}


def apply_setting(team: Team, key: str, value: str) -> str | None:
    """Change one schedule setting; returns a friendly problem or None."""
    if key == "timezone":
        return _set_timezone(team, value.strip())
    value = value.strip().lower()
    if key == "questions":
        if not value.isdecimal() or not 2 <= int(value) <= 5:
            return "A pulse has between 2 and 5 questions."
        team.questions_per_pulse = int(value)
    elif key == "length":
        if not value.isdecimal() or not 1 <= int(value) <= MAX_ROUND_DAYS:
            return f"A pulse stays open for between 1 and {MAX_ROUND_DAYS} days."
        team.round_days = int(value)
    elif key == "day":
        if value[:3] not in DAYS:
            return "Give a weekday, like `mon` or `thursday`."
        team.schedule_day = value[:3]
    elif key == "time":
        try:
            team.schedule_time = datetime.strptime(value, "%H:%M").strftime("%H:%M")
        except ValueError:
            return "Give a 24-hour time, like `09:30`."
    elif value in CADENCES:
        team.cadence = value
    else:
        return "Cadence is `weekly`, `fortnightly` or `monthly`."
    return None


def _set_timezone(team: Team, value: str) -> str | None:
    name = _zones().get(value.lower())
    if name is None:
        return "Give a timezone by its IANA name, like `Europe/London` or `Europe/Dublin`."
    team.timezone = name
    return None


def describe_settings(team: Team, settings: Settings) -> str:
    when = f"{team.schedule_day.title()} at {team.schedule_time}"
    if team.cadence == "monthly":
        when = f"the first {when} of each month"
    days = team.round_days or settings.round_days
    return (
        f"*{team.name}*: a {team.cadence} pulse of {team.questions_per_pulse} questions, "
        f"{when} ({team.timezone or settings.timezone}), open for answers for {days} "
        f"day{'s' if days != 1 else ''}. Change with `pulse settings {team.name} questions 4` "
        "(or `day`, `time`, `cadence`, `timezone`, `length`)."
    )
