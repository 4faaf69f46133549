"""The organisation file: teams, their hierarchy, managers, members and schedules.

Two forms describe the same organisation (DESIGN.md, "organisation file"):

* YAML: ``teams: [{name, parent?, managers: [email], members: [email], channel?: {slack?, teams?},
  schedule?: {cadence, day, time, timezone}, questions_per_pulse?}]`` with an optional top-level
  ``name`` and ``people: [{email, name}]`` (display names);
* CSV: columns ``email,team,parent_team,role`` (role ``member`` or ``manager``) and optionally
  ``name``.  A team named only as a ``parent_team`` is created as an (empty) parent team.

Parsing collects every problem it can find and raises one :class:`OrgError` whose messages name the
line and the reason.  :func:`import_spec` writes a valid spec in one transaction: all or nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import ErrorDetails
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Membership, Organisation, Person, Question, Role, Team
from surveys.bank import load_bank

DEFAULT_ORGANISATION = "Organisation"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EMAIL_RE = re.compile(r"^[^@\s,;<>()\[\]]+@[^@\s,;<>()\[\]]+\.[^@\s,;<>()\[\]]+$")
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
CSV_REQUIRED = ("email", "team", "parent_team", "role")
CSV_OPTIONAL = ("name",)
ROLES = tuple(role.value for role in Role)


class OrgError(Exception):
    """The organisation file cannot be used; ``errors`` holds one human message per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# ---------------------------------------------------------------------------------------------
# Field validators


def _email(value: str) -> str:
    email = value.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValueError(f"'{value}' is not an email address")
    return email


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("is empty")
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
Cadence = Annotated[Literal["weekly", "fortnightly"], BeforeValidator(_lower)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]
Emails = Annotated[list[Email], BeforeValidator(_none_to_empty_list), AfterValidator(_unique)]


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
    return name.strip().casefold()


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


# ---------------------------------------------------------------------------------------------
# YAML

_FRIENDLY = {
    "list_type": "should be a list",
    "dict_type": "should be a set of fields (key: value)",
    "model_type": "should be a set of fields (key: value)",
    "model_attributes_type": "should be a set of fields (key: value)",
    "string_type": "should be text",
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
}
_FIELDS_OF: dict[str, type[BaseModel]] = {
    "": OrgSpec,
    "teams": TeamSpec,
    "people": PersonSpec,
    "channel": ChannelSpec,
    "schedule": ScheduleSpec,
}


def _names(loc: Sequence[int | str]) -> list[str]:
    return [part for part in loc if isinstance(part, str)]


def _known_fields(parent_loc: Sequence[int | str]) -> str:
    names = _names(parent_loc)
    model = _FIELDS_OF.get(names[-1] if names else "", OrgSpec)
    fields = list(model.model_fields)
    return ", ".join(fields[:-1]) + f" or {fields[-1]}"


def _reason(error: ErrorDetails) -> tuple[str, Sequence[int | str]]:
    """A friendly reason and the path of the field it is about."""
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx", {})
    name = _names(loc)[-1] if _names(loc) else "file"
    if kind == "missing":
        return f"'{name}' is required", loc[:-1]
    if kind == "extra_forbidden":
        return f"'{name}' is not a known field (use {_known_fields(loc[:-1])})", loc[:-1]
    if kind == "value_error":
        return str(ctx.get("error", error["msg"])), loc
    if kind in ("greater_than_equal", "less_than_equal") and name == "questions_per_pulse":
        return f"must be between 2 and 5 (got {error['input']!r})", loc
    if kind == "literal_error":
        return f"must be {ctx.get('expected')} (got {error['input']!r})", loc
    return f"{_FRIENDLY.get(kind, error['msg'])} (got {error['input']!r})", loc


def _child(node: yaml.Node | None, key: int | str) -> tuple[yaml.Node, int] | None:
    """The child at ``key`` and the line (1-based) where it starts (for a mapping: its key)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key:
                return value_node, key_node.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        item = node.value[key]
        return item, item.start_mark.line + 1
    return None


def _line_at(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in loc:
        found = _child(node, key)
        if found is None:
            break
        node, line = found
    return line


def _subject(data: Any, loc: Sequence[int | str]) -> str:
    """``team 2 'Ward 9'``, ``people entry 3`` or ``organisation``."""
    if len(loc) >= 2 and loc[0] == "teams" and isinstance(loc[1], int):
        teams = data.get("teams") if isinstance(data, dict) else None
        raw = teams[loc[1]] if isinstance(teams, list) and loc[1] < len(teams) else None
        named = f" '{raw['name']}'" if isinstance(raw, dict) and raw.get("name") else ""
        return f"team {loc[1] + 1}{named}"
    if len(loc) >= 2 and loc[0] == "people" and isinstance(loc[1], int):
        return f"people entry {loc[1] + 1}"
    return "organisation"


def _yaml_message(error: ErrorDetails, data: Any, root: yaml.Node | None) -> tuple[int, str]:
    """``(line, "line 7: team 2 'Ward 9', schedule.day: 'funday' is not a day ...")``."""
    reason, path = _reason(error)
    subject = _subject(data, error["loc"])
    skip = 2 if subject != "organisation" else 0
    fields = ".".join(_names(path[skip:]))
    where = ", ".join(part for part in (subject, fields) if part and part != "organisation")
    where = where or subject
    line = _line_at(root, error["loc"])
    return (line or 0), (f"line {line}: {where}: {reason}" if line else f"{where}: {reason}")


def _yaml_syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """``line 4, column 1: not valid YAML (expected ',' or ']' ...; while parsing a flow
    sequence that starts on line 3)``."""
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    reason = exc.problem or exc.context or "cannot be read"
    if exc.context and exc.context_mark and exc.problem:
        reason += f"; {exc.context} that starts on line {exc.context_mark.line + 1}"
    return f"{where}not valid YAML ({reason})"


def _parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise OrgError([_yaml_syntax_message(exc)]) from None
    except yaml.YAMLError as exc:
        raise OrgError([f"not valid YAML ({exc})"]) from None


def _team_lines(root: yaml.Node | None, count: int) -> list[int | None]:
    return [_line_at(root, ("teams", index)) for index in range(count)]


def spec_from_yaml(text: str) -> OrgSpec:
    """Parse and check a YAML organisation file; :class:`OrgError` lists every problem."""
    data, root = _parse_yaml(text)
    if data is None:
        raise OrgError(["the file is empty (it should start with 'teams:')"])
    if not isinstance(data, dict):
        raise OrgError(["line 1: the file should be a set of fields starting with 'teams:'"])
    try:
        spec = OrgSpec.model_validate(data)
    except ValidationError as exc:
        found = sorted(_yaml_message(error, data, root) for error in exc.errors())
        raise OrgError([message for _, message in found]) from None
    check_spec(spec, _team_lines(root, len(spec.teams)))
    return spec


# ---------------------------------------------------------------------------------------------
# CSV


@dataclass
class _CsvTeam:
    name: str
    line: int
    parent: str | None = None
    parent_line: int = 0
    managers: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)


@dataclass
class _CsvRow:
    line: int
    email: str
    team: str
    parent: str | None
    role: str
    name: str | None


def _cell(row: Mapping[str | None, Any], column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def _row_errors(line: int, row: Mapping[str | None, Any]) -> list[str]:
    errors = []
    if row.get(None):
        errors.append(f"line {line}: more values than there are columns in the header")
    email = _cell(row, "email")
    if not email:
        errors.append(f"line {line}: email is empty")
    elif not EMAIL_RE.match(email.lower()):
        errors.append(f"line {line}: '{email}' is not an email address")
    if not _cell(row, "team"):
        errors.append(f"line {line}: team is empty")
    role = _cell(row, "role")
    if role.lower() not in ROLES:
        shown = f"'{role}' is not a role" if role else "role is empty"
        errors.append(f"line {line}: {shown} (use member or manager)")
    return errors


def _parse_row(line: int, row: Mapping[str | None, Any]) -> _CsvRow:
    return _CsvRow(
        line=line,
        email=_cell(row, "email").lower(),
        team=_cell(row, "team"),
        parent=_cell(row, "parent_team") or None,
        role=_cell(row, "role").lower(),
        name=_cell(row, "name") or None,
    )


def _header_errors(fieldnames: Sequence[str] | None) -> list[str]:
    expected = ",".join(CSV_REQUIRED)
    if not fieldnames:
        return [f"the file is empty (line 1 should be the header {expected})"]
    missing = [c for c in CSV_REQUIRED if c not in fieldnames]
    unknown = [c for c in fieldnames if c not in (*CSV_REQUIRED, *CSV_OPTIONAL)]
    errors = [f"line 1: the header has no '{c}' column (it should be {expected})" for c in missing]
    return errors + [
        f"line 1: '{c}' is not a known column (use {expected} and optionally name)" for c in unknown
    ]


class _CsvBuilder:
    """Accumulates rows into teams and people, collecting every problem on the way."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.teams: dict[str, _CsvTeam] = {}
        self.names: dict[str, tuple[str, int]] = {}

    def add(self, line: int, row: Mapping[str | None, Any]) -> None:
        errors = _row_errors(line, row)
        if errors:
            self.errors.extend(errors)
            return
        parsed = _parse_row(line, row)
        self._add_team(parsed)
        self._add_name(parsed)

    def _add_team(self, row: _CsvRow) -> None:
        team = self.teams.setdefault(row.team, _CsvTeam(name=row.team, line=row.line))
        (team.managers if row.role == Role.MANAGER else team.members).append(row.email)
        if row.parent is None:
            return
        if team.parent is None:
            team.parent, team.parent_line = row.parent, row.line
        elif _key(team.parent) != _key(row.parent):
            self.errors.append(
                f"line {row.line}: team '{row.team}' has parent_team '{row.parent}' "
                f"but line {team.parent_line} gave '{team.parent}'"
            )

    def _add_name(self, row: _CsvRow) -> None:
        if row.name is None:
            return
        name, line = self.names.setdefault(row.email, (row.name, row.line))
        if name != row.name:
            self.errors.append(
                f"line {row.line}: '{row.email}' is named '{row.name}' but line {line} "
                f"gave '{name}'"
            )

    def _parent_only(self) -> list[_CsvTeam]:
        known = {_key(name) for name in self.teams}
        extra: dict[str, _CsvTeam] = {}
        for team in self.teams.values():
            if team.parent is not None and _key(team.parent) not in known:
                extra.setdefault(_key(team.parent), _CsvTeam(team.parent, team.parent_line))
        return list(extra.values())

    def finish(self) -> OrgSpec:
        teams = [*self.teams.values(), *self._parent_only()]
        spec = OrgSpec(
            teams=[
                TeamSpec(name=t.name, parent=t.parent, managers=t.managers, members=t.members)
                for t in teams
            ],
            people=[PersonSpec(email=email, name=name) for email, (name, _) in self.names.items()],
        )
        errors = self.errors + spec_problems(spec, [team.line for team in teams])
        if errors:
            raise OrgError(errors)
        return spec


def spec_from_csv(text: str) -> OrgSpec:
    """Parse and check a CSV organisation file (the header is line 1)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    builder = _CsvBuilder()
    try:
        header = reader.fieldnames
        if header is not None:
            reader.fieldnames = [column.strip().lower() for column in header]
        errors = _header_errors(reader.fieldnames)
        if errors:
            raise OrgError(errors)
        for row in reader:
            builder.add(reader.line_num, row)
    except csv.Error as exc:
        raise OrgError([f"line {reader.line_num}: not valid CSV ({exc})"]) from None
    return builder.finish()


# ---------------------------------------------------------------------------------------------
# Files

_PARSERS: dict[str, Callable[[str], OrgSpec]] = {
    ".yaml": spec_from_yaml,
    ".yml": spec_from_yaml,
    ".csv": spec_from_csv,
}


def load_file(path: Path) -> OrgSpec:
    """Read an organisation file by its extension (.yaml, .yml or .csv)."""
    parser = _PARSERS.get(path.suffix.lower())
    if parser is None:
        shown = path.suffix or "no extension"
        raise OrgError([f"{path}: unknown file type ({shown}); use .yaml, .yml or .csv"])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise OrgError([f"{path}: no such file"]) from None
    except UnicodeDecodeError:
        raise OrgError([f"{path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise OrgError([f"{path}: cannot be read ({exc.strerror or exc})"]) from None
    return parser(text)


# ---------------------------------------------------------------------------------------------
# Import


@dataclass
class ImportSummary:
    teams: int
    people: int
    memberships: int


_CHANNEL_COLUMNS = {"slack": "slack_channel", "teams": "teams_channel"}
_SCHEDULE_COLUMNS = {
    "cadence": "cadence",
    "day": "schedule_day",
    "time": "schedule_time",
    "timezone": "timezone",
}


async def sync_questions(session: AsyncSession) -> int:
    """Make the Question table match the bank (inactive when gone); returns the active count.

    Flushes but does not commit: the caller owns the transaction."""
    existing = {q.id: q for q in (await session.exec(select(Question))).all()}
    bank = load_bank().questions
    for item in bank:
        row = existing.pop(item.id, None) or Question(
            id=item.id, theme=item.theme, text="", source=""
        )
        row.theme, row.text, row.source = item.theme, item.text, item.source
        row.reverse, row.advocacy, row.active = item.reverse, item.advocacy, True
        session.add(row)
    for stale in existing.values():
        stale.active = False
        session.add(stale)
    await session.flush()
    return len(bank)


async def _upsert_organisation(session: AsyncSession, name: str, is_demo: bool) -> Organisation:
    query = select(Organisation).where(Organisation.name == name)
    org = (await session.exec(query)).first() or Organisation(name=name)
    org.is_demo = is_demo
    session.add(org)
    await session.flush()
    return org


def _apply_settings(team: Team, spec: TeamSpec) -> None:
    """Copy what the file states; settings it leaves out (e.g. set in chat) stay as they are."""
    team.name = spec.name
    if spec.channel is not None:
        for name in spec.channel.model_fields_set:
            setattr(team, _CHANNEL_COLUMNS[name], getattr(spec.channel, name))
    if spec.schedule is not None:
        for name in spec.schedule.model_fields_set:
            setattr(team, _SCHEDULE_COLUMNS[name], getattr(spec.schedule, name))
    if "questions_per_pulse" in spec.model_fields_set:
        team.questions_per_pulse = spec.questions_per_pulse


async def _upsert_teams(session: AsyncSession, org_id: int, spec: OrgSpec) -> dict[str, Team]:
    """Pass one: every team exists; pass two: parents point at them."""
    rows = (await session.exec(select(Team).where(Team.organisation_id == org_id))).all()
    existing = {_key(team.name): team for team in rows}
    teams: dict[str, Team] = {}
    for item in spec.teams:
        team = existing.get(_key(item.name)) or Team(organisation_id=org_id, name=item.name)
        _apply_settings(team, item)
        session.add(team)
        teams[_key(item.name)] = team
    await session.flush()
    for item in spec.teams:
        parent = teams[_key(item.parent)] if item.parent is not None else None
        teams[_key(item.name)].parent_id = parent.id if parent is not None else None
    await session.flush()
    return teams


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    return (values[start : start + size] for start in range(0, len(values), size))


async def _existing_people(session: AsyncSession, emails: Sequence[str]) -> dict[str, Person]:
    found: dict[str, Person] = {}
    for chunk in _chunks(emails):
        rows = await session.exec(select(Person).where(col(Person.email).in_(chunk)))
        found.update({person.email: person for person in rows.all()})
    return found


async def _foreign_people(session: AsyncSession, org_id: int, people: Iterable[Person]) -> None:
    """People already in another organisation are not silently moved out of it."""
    foreign = [person for person in people if person.organisation_id != org_id]
    if not foreign:
        return
    orgs = {org.id: org.name for org in (await session.exec(select(Organisation))).all()}
    raise OrgError(
        [
            f"'{p.email}' already belongs to organisation '{orgs.get(p.organisation_id)}'"
            for p in foreign
        ]
    )


async def _upsert_people(session: AsyncSession, org_id: int, spec: OrgSpec) -> dict[str, Person]:
    emails = spec.emails()
    names = {person.email: person.name for person in spec.people}
    people = await _existing_people(session, emails)
    await _foreign_people(session, org_id, people.values())
    for email in emails:
        person = people.get(email)
        if person is None:
            person = Person(organisation_id=org_id, email=email, display_name="")
            person.display_name = names.get(email) or display_name_for(email)
            people[email] = person
        elif email in names:
            person.display_name = names[email]
        session.add(person)
    await session.flush()
    return people


def _id(row: Team | Person) -> int:
    assert row.id is not None, "flushed rows have ids"
    return row.id


async def _replace_memberships(
    session: AsyncSession, spec: OrgSpec, teams: Mapping[str, Team], people: Mapping[str, Person]
) -> int:
    team_ids = [_id(team) for team in teams.values()]
    await session.exec(delete(Membership).where(col(Membership.team_id).in_(team_ids)))
    rows = [
        Membership(team_id=_id(teams[_key(item.name)]), person_id=_id(people[email]), role=role)
        for item in spec.teams
        for role, emails in ((Role.MANAGER, item.managers), (Role.MEMBER, item.members))
        for email in emails
    ]
    session.add_all(rows)
    await session.flush()
    return len(rows)


async def _write(session: AsyncSession, spec: OrgSpec, is_demo: bool) -> ImportSummary:
    await sync_questions(session)
    org = await _upsert_organisation(session, spec.name, is_demo)
    assert org.id is not None
    teams = await _upsert_teams(session, org.id, spec)
    people = await _upsert_people(session, org.id, spec)
    memberships = await _replace_memberships(session, spec, teams, people)
    return ImportSummary(teams=len(teams), people=len(people), memberships=memberships)


async def import_spec(
    session: AsyncSession, spec: OrgSpec, *, is_demo: bool = False
) -> ImportSummary:
    """Write the organisation in one transaction (all or nothing) and sync the question bank.

    Organisation by name, teams by (organisation, name), people by email are updated in place;
    the memberships of every team in the spec are replaced by the spec's."""
    check_spec(spec)
    try:
        summary = await _write(session, spec, is_demo)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return summary
