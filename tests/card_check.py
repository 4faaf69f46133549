"""Helpers for the Teams card tests: Microsoft's own Adaptive Card library and markdown-it (run
by ``tests/adaptive_cards/check.js`` under Node.js; ``make test`` installs them with ``npm ci``),
and a Teams client's part: what a person sees in a card, and what the client sends back."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

CHECKER = Path(__file__).resolve().parent / "adaptive_cards"


def check(cards: Sequence[dict[str, Any]], markdown: Sequence[str] = ()) -> dict[str, Any]:
    """``{"cards": [{"events", "failures", "dropped"}], "markdown": [html]}`` for the cards (as
    the ``adaptivecards`` package parses them for 1.5) and the texts (as markdown-it renders a
    TextBlock's Markdown)."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the Teams card tests"
    assert (CHECKER / "node_modules" / "adaptivecards").is_dir(), (
        "run `make test` (or `npm ci --prefix tests/adaptive_cards`) to install the card checker"
    )
    request = json.dumps({"cards": list(cards), "markdown": list(markdown)})
    done = subprocess.run(
        [node, str(CHECKER / "check.js")],
        input=request,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def elements(card: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every element and action of a card, in reading order (body first, then actions)."""

    def walk(items: Any) -> Iterator[dict[str, Any]]:
        for item in items or []:
            yield item
            yield from walk(item.get("items"))
            yield from walk(item.get("actions"))
            for column in item.get("columns") or []:
                yield from walk(column.get("items"))

    yield from walk(card.get("body"))
    yield from walk(card.get("actions"))


def of_type(card: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return [element for element in elements(card) if element["type"] == kind]


def shown_texts(card: Mapping[str, Any]) -> list[str]:
    """Every Markdown text a person reads: TextBlocks and FactSets' titles and values."""
    texts = [element["text"] for element in of_type(card, "TextBlock")]
    for fact_set in of_type(card, "FactSet"):
        texts += [part for fact in fact_set["facts"] for part in (fact["title"], fact["value"])]
    return texts


def inputs(card: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {element["id"]: element for element in elements(card) if "Input." in element["type"]}


def submitted(card: Mapping[str, Any], chosen: Mapping[str, str]) -> tuple[Any, Any]:
    """What a Teams client sends when the person submits the card with ``chosen`` (input id ->
    value; each other input keeps its preset value, and one holding none is left out): an
    ``Action.Execute`` invoke's ``value``, and an ``Action.Submit`` message's ``value``."""
    values = {key: element.get("value") for key, element in inputs(card).items()} | dict(chosen)
    filled = {key: value for key, value in values.items() if value not in (None, "")}
    [action] = card["actions"]
    invoke = {
        "action": {
            "type": action["type"],
            "verb": action["verb"],
            "title": action["title"],
            "data": action["data"] | filled,
        },
        "trigger": "manual",
    }
    return invoke, action["fallback"]["data"] | filled


def problem_under(card: Mapping[str, Any], input_id: str) -> list[str]:
    """The red texts between an input and the next input."""
    body = list(elements(card))
    start = next(i for i, element in enumerate(body) if element.get("id") == input_id)
    found = []
    for element in body[start + 1 :]:
        if "Input." in element["type"]:
            break
        if element["type"] == "TextBlock" and element.get("color") == "Attention":
            found.append(element["text"])
    return found
