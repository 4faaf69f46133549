"""The Slack app manifest, kept as data beside this module (``manifest.yaml``, package data)."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

EVENTS_PATH = "/slack/events"
_PLACEHOLDER = re.compile(r"\{(url|name|example)\}")


@cache
def _template() -> dict[str, Any]:
    found = yaml.safe_load(files("adapters.slack").joinpath("manifest.yaml").read_text("utf-8"))
    assert isinstance(found, dict)
    return found


def bot_scopes() -> tuple[str, ...]:
    """The bot token's scopes, as the manifest asks for them (read when needed: a server imports
    this module for ``EVENTS_PATH``)."""
    return tuple(_template()["oauth_config"]["scopes"]["bot"])


def _filled(node: Any, values: dict[str, str]) -> Any:
    """The template with ``{url}``, ``{name}`` and ``{example}`` filled in, in every string."""
    if isinstance(node, dict):
        return {key: _filled(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_filled(value, values) for value in node]
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], node) if isinstance(node, str) else node


def manifest(
    base_url: str, *, name: str = "teampulse", kudos_values: dict[str, str]
) -> dict[str, Any]:
    url = base_url.rstrip("/") + EVENTS_PATH
    example = next(iter(kudos_values), "teamwork")
    filled: dict[str, Any] = _filled(_template(), {"url": url, "name": name, "example": example})
    return filled


def manifest_yaml(base_url: str, *, name: str = "teampulse", kudos_values: dict[str, str]) -> str:
    return yaml.safe_dump(
        manifest(base_url, name=name, kudos_values=kudos_values),
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
