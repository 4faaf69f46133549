"""The CSV organisation file (``email,team,parent_team,role[,name]``): rows into a spec."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.models import Role
from surveys.directory import normalise_email
from surveys.organisation.spec import (
    EMAIL_RE,
    OrgError,
    OrgSpec,
    PersonSpec,
    TeamSpec,
    _key,
    name_problem,
    printable,
    spec_problems,
)

CSV_REQUIRED = ("email", "team", "parent_team", "role")
CSV_OPTIONAL = ("name",)
ROLES = tuple(role.value for role in Role)


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
        errors.append(f"line {line}: '{printable(email)}' is not an email address")
    if not _cell(row, "team"):
        errors.append(f"line {line}: team is empty")
    for column in ("team", "parent_team", "name"):
        problem = name_problem(_cell(row, column))
        if problem:
            errors.append(f"line {line}: {column} '{printable(_cell(row, column))}' {problem}")
    role = _cell(row, "role")
    if role.lower() not in ROLES:
        shown = f"'{role}' is not a role" if role else "role is empty"
        errors.append(f"line {line}: {shown} (use member or manager)")
    return errors


def _parse_row(line: int, row: Mapping[str | None, Any]) -> _CsvRow:
    return _CsvRow(
        line=line,
        email=normalise_email(_cell(row, "email")),
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
