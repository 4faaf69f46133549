"""The organisation import fuzzed: the test organisation's YAML mutated (fields dropped, retyped,
odd text, deep nesting), YAML's own traps (aliases, tags, a billion laughs) and CSV rows of odd
cells.  Reading either gives an organisation or an ``OrgError`` naming the problems (never another
exception), and an import that fails changes nothing in the database."""

from __future__ import annotations

import csv
import io
import os

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from surveys.organisation import OrgError, OrgSpec, spec_from_csv, spec_from_yaml
from tests.fuzz_support import ODD_TEXT, changed, dump, mutated
from tests.support import ORG_YAML, make_service

FUZZ = settings.get_profile(os.environ.get("TEAMPULSE_FUZZ_PROFILE", "fuzz-ci"))
BASE = yaml.safe_load(ORG_YAML)
TRAPS = st.sampled_from(
    [
        "teams: !!python/object/apply:os.system ['true']",
        "a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c]\nteams: [*d, *d, *d, *d, *d, *d, *d, *d]",
        "teams:\n  - name: Ward\n    members: &m [a@x.org]\n    managers: *m\n    parent: *m",
        "teams: " + "[" * 5000,
        "teams:\n  - name: '\\ud800'\n    members: [a@x.org]",
        'teams:\n  - name: "\\ud800"\n    members: [a@x.org]',
        "\ufeffteams: []",
        "teams:\n  - {name: A, members: [a@x.org], schedule: {cadence: weekly, day: mon, "
        "time: '99:99', timezone: Mars/Base}}",
        "teams:\n  - {name: A, members: [a@x.org], channel: {slack: [1], teams: {x: 1}}}",
    ]
)
CSV_COLUMNS = ["email", "team", "parent_team", "role"]


def csv_text(rows: list[list[str]], header: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def yaml_text(value: object) -> str:
    """A mutated organisation as YAML (one nested too deep for PyYAML to write: as flow text)."""
    try:
        return yaml.safe_dump(value, allow_unicode=False)
    except RecursionError:
        return "teams: " + "[" * 3000 + "]" * 3000


YAML_TEXTS = st.one_of(
    mutated(BASE).map(yaml_text),
    TRAPS,
    st.text(max_size=300),
)
CSV_TEXTS = st.builds(
    csv_text,
    st.lists(st.lists(ODD_TEXT, min_size=0, max_size=5), max_size=6),
    st.one_of(st.just(CSV_COLUMNS), st.lists(ODD_TEXT, max_size=5)),
)


def read(text: str, kind: str) -> OrgSpec | OrgError:
    """What reading the file gives: anything but an organisation or an ``OrgError`` fails."""
    try:
        return spec_from_yaml(text) if kind == "yaml" else spec_from_csv(text)
    except OrgError as error:
        assert str(error), "an OrgError names its problems"
        return error


@FUZZ
@given(data=st.data())
async def test_an_odd_organisation_file_is_an_org_error_or_imported_and_never_half(
    db: Database, settings: Settings, data: st.DataObject
) -> None:
    service = await _service(db, settings)
    kind = data.draw(st.sampled_from(["yaml", "csv"]))
    text = data.draw(YAML_TEXTS if kind == "yaml" else CSV_TEXTS)
    found = read(text, kind)
    if isinstance(found, OrgError):
        return
    before = await dump(db.engine)
    try:
        await service.import_organisation(found)
    except OrgError:
        assert changed(before, await dump(db.engine)) == []


_SERVICES: dict[int, TeamPulse] = {}


async def _service(db: Database, settings: Settings) -> TeamPulse:
    """One service per database (the fixture's database lives across the examples)."""
    if id(db) not in _SERVICES:
        _SERVICES.clear()
        _SERVICES[id(db)] = (await make_service(db, settings))[0]
    return _SERVICES[id(db)]
