"""The YAML organisation file: parse, validate and report each problem with its line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from surveys.organisation.spec import (
    ChannelSpec,
    OrgError,
    OrgSpec,
    PersonSpec,
    ScheduleSpec,
    TeamSpec,
    check_spec,
    printable,
)

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
    if kind in ("greater_than_equal", "less_than_equal") and name == "length":
        return f"must be between 1 and 14 days (got {error['input']!r})", loc
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
        named = f" '{printable(raw['name'])}'" if isinstance(raw, dict) and raw.get("name") else ""
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
        data, root = yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # (PyYAML reads nesting recursively)
        raise OrgError(["the file is nested too deeply to be an organisation"]) from None
    except yaml.MarkedYAMLError as exc:
        raise OrgError([_yaml_syntax_message(exc)]) from None
    except yaml.YAMLError as exc:
        raise OrgError([f"not valid YAML ({exc})"]) from None
    if not _all_text_encodable(data):
        raise OrgError(["the file holds an escaped lone surrogate (such as \\ud800): no character"])
    return data, root


def _all_text_encodable(data: Any) -> bool:
    """No string (key or value) holds a lone surrogate, which no database can store (a YAML
    escape such as ``"\\ud800"`` makes one).  Walked without recursion."""
    stack, seen = [data], set()
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:  # (an alias: the same node again)
                continue
            seen.add(id(item))
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


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
