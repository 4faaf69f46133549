"""The organisation spec: pydantic models for teams, people and schedules, and the checks that
need the whole file (duplicate teams, unknown parents, parent loops, empty teams).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from surveys.directory import normalise_email, team_key

DEFAULT_ORGANISATION = "Organisation"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EMAIL_RE = re.compile(r"^[^@\s,;<>()\[\]]+@[^@\s,;<>()\[\]]+\.[^@\s,;<>()\[\]]+$")
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class OrgError(Exception):
    """The organisation file cannot be used; ``errors`` holds one human message per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# ---------------------------------------------------------------------------------------------
# Field validators


def _email(value: str) -> str:
    email = normalise_email(value)
    if not EMAIL_RE.match(email):
        raise ValueError(f"'{value}' is not an email address")
    if email.endswith(".invalid"):  # reserved (RFC 2606): an account refused a match is one
        raise ValueError(f"'{value}' is in the reserved domain .invalid")
    return email


# what a name must not hold: control characters (a line break, an escape sequence for someone's
# terminal, NUL, which PostgreSQL refuses) and the characters that reverse the direction of the
# text around them (a name that reads as something else); names reach other people's screens
_NOT_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(name: object) -> str:
    """A name as an error message may quote it: what a name must not hold written as ``\\uXXXX``
    (the message goes to a terminal or a chat)."""
    return _NOT_IN_NAMES.sub(lambda found: f"\\u{ord(found.group()):04x}", str(name))


def name_problem(value: str) -> str | None:
    """Why ``value`` can't be a name (``None``: it can)."""
    if _NOT_IN_NAMES.search(value):
        return "must be one line of text, without control or text-direction characters"
    return None


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("is empty")
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Email = Annotated[str, AfterValidator(_email)]
Text = Annotated[str, AfterValidator(_non_empty)]


def _none_to_empty_list(value: object) -> object:
    return [] if value is None else value


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _day(value: str) -> str:
    wanted = value.lower()
    for day in DAYS:
        if len(wanted) >= 3 and day.startswith(wanted):
            return day[:3]
    raise ValueError(f"'{value}' is not a day (use mon, tue, wed, thu, fri, sat or sun)")


def _sexagesimal(value: object) -> object:
    """YAML 1.1 reads an unquoted 9:30 as the base-60 integer 570: turn it back into a time."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return f"{value // 60}:{value % 60:02d}"
    return value


def _time(value: str) -> str:
    match = TIME_RE.match(value)
    if match is None:
        raise ValueError(f"'{value}' is not a time (use HH:MM, 24-hour, e.g. 09:30)")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not a time zone (use a name like Europe/London)") from None
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Day = Annotated[str, AfterValidator(_day)]
Time = Annotated[str, BeforeValidator(_sexagesimal), AfterValidator(_time)]
TimeZone = Annotated[str | None, BeforeValidator(_blank_to_none), AfterValidator(_timezone)]
Cadence = Annotated[Literal["weekly", "fortnightly", "monthly"], BeforeValidator(_lower)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]
Emails = Annotated[list[Email], BeforeValidator(_none_to_empty_list), AfterValidator(_unique)]
# a Slack workspace (``T…``) or Enterprise Grid (``E…``) id, or a Teams tenant id (a GUID)
PLACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,63}$")


def _place(value: str) -> str:
    if not PLACE_RE.match(value):
        raise ValueError(f"'{printable(value)}' is not a workspace or tenant id")
    return value


Place = Annotated[str, AfterValidator(_place)]
Places = Annotated[list[Place], BeforeValidator(_none_to_empty_list), AfterValidator(_unique)]


# ---------------------------------------------------------------------------------------------
# The spec


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)


class ChannelSpec(_Spec):
    slack: OptionalText = None
    teams: OptionalText = None


class ScheduleSpec(_Spec):
    cadence: Cadence = "weekly"
    day: Day = "mon"
    time: Time = "10:00"
    timezone: TimeZone = None
    # days a pulse stays open (``pulse settings … length``); unset: TEAMPULSE_ROUND_DAYS
    length: int | None = Field(default=None, ge=1, le=14)


class PersonSpec(_Spec):
    email: Email
    name: Text


class TeamSpec(_Spec):
    name: Text
    parent: OptionalText = None
    managers: Emails = Field(default_factory=list)
    members: Emails = Field(default_factory=list)
    channel: ChannelSpec | None = None
    schedule: ScheduleSpec | None = None
    questions_per_pulse: int = Field(default=3, ge=2, le=5)


class OrgSpec(_Spec):
    name: Text = DEFAULT_ORGANISATION
    teams: list[TeamSpec]
    people: Annotated[list[PersonSpec], BeforeValidator(_none_to_empty_list)] = Field(
        default_factory=list
    )
    # where its people's accounts may come from; left out of the file: as stored (none at first)
    slack_workspaces: Places = Field(default_factory=list)
    teams_tenants: Places = Field(default_factory=list)

    def emails(self) -> list[str]:
        """Everyone in the spec, in order of first mention."""
        found = [e for team in self.teams for e in [*team.managers, *team.members]]
        return _unique([*found, *(person.email for person in self.people)])


def display_name_for(email: str) -> str:
    """``sam.okafor@x.nhs.uk`` -> ``Sam Okafor``."""
    local = email.split("@", 1)[0].split("+", 1)[0]
    words = [word for word in re.split(r"[._]+", local) if word]
    named = " ".join("-".join(p.capitalize() for p in word.split("-")) for word in words)
    return named or email


# ---------------------------------------------------------------------------------------------
# Whole-spec checks


def _key(name: str) -> str:
    """Team names are unique within an organisation by this key (the one chat and the command
    line look teams up by): case and spacing are ignored."""
    return team_key(name)


def _where(team: TeamSpec, line: int | None) -> str:
    return f"line {line}: team '{team.name}'" if line else f"team '{team.name}'"


def _duplicate_teams(teams: Sequence[TeamSpec], lines: Sequence[int | None]) -> list[str]:
    first: dict[str, int] = {}
    errors = []
    for index, team in enumerate(teams):
        seen = first.setdefault(_key(team.name), index)
        if seen != index:
            other = teams[seen]
            at = f" (line {lines[seen]})" if lines[seen] else ""
            errors.append(
                f"{_where(team, lines[index])}: another team is already called '{other.name}'{at}"
            )
    return errors


def _unknown_parents(teams: Sequence[TeamSpec], lines: Sequence[int | None]) -> list[str]:
    names = {_key(team.name) for team in teams}
    return [
        f"{_where(team, line)}: parent '{team.parent}' is not a team in the file"
        for team, line in zip(teams, lines, strict=True)
        if team.parent is not None and _key(team.parent) not in names
    ]


def _find_cycles(parents: Mapping[str, str]) -> list[list[str]]:
    """Each loop in a child -> parent map once, starting from its first child in map order."""
    done: set[str] = set()
    cycles = []
    for start in parents:
        path: list[str] = []
        node = start
        while node in parents and node not in done and node not in path:
            path.append(node)
            node = parents[node]
        if node in path:
            cycles.append(path[path.index(node) :])
        done.update(path)
    return cycles


def _cycle_errors(teams: Sequence[TeamSpec], lines: Sequence[int | None]) -> list[str]:
    index = {_key(team.name): i for i, team in reversed(list(enumerate(teams)))}
    parents = {
        _key(team.name): _key(team.parent)
        for team in teams
        if team.parent is not None and _key(team.parent) in index
    }
    errors = []
    for cycle in _find_cycles(parents):
        names = [teams[index[key]].name for key in [*cycle, cycle[0]]]
        first = index[cycle[0]]
        loop = " -> ".join(names)
        errors.append(f"{_where(teams[first], lines[first])}: parent chain loops ({loop})")
    return errors


def _empty_teams(teams: Sequence[TeamSpec], lines: Sequence[int | None]) -> list[str]:
    parents = {_key(team.parent) for team in teams if team.parent is not None}
    return [
        f"{_where(team, line)}: has no managers or members (only a parent team may be empty)"
        for team, line in zip(teams, lines, strict=True)
        if not (team.managers or team.members) and _key(team.name) not in parents
    ]


def _duplicate_people(people: Sequence[PersonSpec]) -> list[str]:
    seen: set[str] = set()
    errors = []
    for person in people:
        if person.email in seen:
            errors.append(f"people: '{person.email}' is listed more than once")
        seen.add(person.email)
    return errors


def spec_problems(spec: OrgSpec, lines: Sequence[int | None] | None = None) -> list[str]:
    """Every whole-file problem; ``lines[i]`` is the file line of team ``i`` when known."""
    if not spec.teams:
        return ["the file lists no teams"]
    where = list(lines) if lines is not None else [None] * len(spec.teams)
    checks = (_duplicate_teams, _unknown_parents, _cycle_errors, _empty_teams)
    errors = [error for check in checks for error in check(spec.teams, where)]
    return errors + _duplicate_people(spec.people)


def check_spec(spec: OrgSpec, lines: Sequence[int | None] | None = None) -> None:
    """Raise :class:`OrgError` listing every whole-file problem, if there are any."""
    errors = spec_problems(spec, lines)
    if errors:
        raise OrgError(errors)
