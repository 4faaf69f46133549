"""The organisation file: teams, their hierarchy, managers, members and schedules.

Two forms describe the same organisation (DESIGN.md, "organisation file"):

* YAML: ``teams: [{name, parent?, managers: [email], members: [email], channel?: {slack?, teams?},
  schedule?: {cadence, day, time, timezone, length}, questions_per_pulse?}]`` with an optional
  top-level ``name`` and ``people: [{email, name}]`` (display names);
* CSV: columns ``email,team,parent_team,role`` (role ``member`` or ``manager``) and optionally
  ``name``.  A team named only as a ``parent_team`` is created as an (empty) parent team.

Parsing collects every problem it can find and raises one :class:`OrgError` whose messages name the
line and the reason.  :func:`import_spec` writes a valid spec in one transaction: all or nothing.

Modules: :mod:`.spec` (the models and whole-file checks), :mod:`.yaml_file` and :mod:`.csv_file`
(the two parsers), :mod:`.files` (reading a file by its extension) and :mod:`.writer` (the
database import).
"""

from __future__ import annotations

from surveys.organisation.csv_file import CSV_OPTIONAL, CSV_REQUIRED, ROLES, spec_from_csv
from surveys.organisation.files import load_file
from surveys.organisation.spec import (
    DAYS,
    DEFAULT_ORGANISATION,
    EMAIL_RE,
    TIME_RE,
    ChannelSpec,
    OrgError,
    OrgSpec,
    PersonSpec,
    ScheduleSpec,
    TeamSpec,
    check_spec,
    display_name_for,
    spec_problems,
)
from surveys.organisation.writer import ImportSummary, import_spec, sync_questions
from surveys.organisation.yaml_file import spec_from_yaml

__all__ = [
    "CSV_OPTIONAL",
    "CSV_REQUIRED",
    "DAYS",
    "DEFAULT_ORGANISATION",
    "EMAIL_RE",
    "ROLES",
    "TIME_RE",
    "ChannelSpec",
    "ImportSummary",
    "OrgError",
    "OrgSpec",
    "PersonSpec",
    "ScheduleSpec",
    "TeamSpec",
    "check_spec",
    "display_name_for",
    "import_spec",
    "load_file",
    "spec_from_csv",
    "spec_from_yaml",
    "spec_problems",
    "sync_questions",
]
