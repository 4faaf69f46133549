"""JSON from outside, read with bounds: every entry point that takes JSON (the web chat's API,
Teams' activities, Slack's payloads) reads it here, so a hostile body is a ``BadJson`` with a
reason (the caller answers 400), never an exception deep in a handler or the database driver.

Refused: a body that is not UTF-8 or not JSON, ``NaN``/``Infinity`` (not JSON, though Python's
reader takes them), an integer too long to read (over Python's 4,300 digits), nesting deeper than
``max_depth``, and a lone UTF-16 surrogate (``"\\ud800"``: valid JSON escaping, but no character;
no database or log can store it)."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # arrays and objects within each other; real platform payloads use under 16


class BadJson(ValueError):
    """Why a body is not acceptable JSON (said to the sender)."""


def _no_constants(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON number")


# one decoder for every read: ``json.loads`` with an argument builds a new decoder (and its
# scanner) on each call
_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("the body is not UTF-8") from None


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``text`` as JSON within the bounds above, or ``BadJson``."""
    if isinstance(text, bytes):
        text = decode(text)
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise BadJson(f"the JSON is nested deeper than {max_depth} levels") from None
    except BadJson:
        raise
    except ValueError:  # (json.JSONDecodeError, and an integer over 4,300 digits)
        raise BadJson("the body is not valid JSON") from None
    if _plain(text):
        problem = None if _shallow(text, max_depth) else _depth_problem(value, max_depth)
    else:
        problem = shape_problem(value, max_depth)
    if problem is not None:
        raise BadJson(problem)
    return value


def _plain(text: str) -> bool:
    """No string read from ``text`` can hold a lone surrogate: the text holds none itself, and
    no ``\\uD…`` escape (a surrogate's, paired or not).  Then only the nesting is left to check,
    without visiting every string (most of a payload): ``shape_problem`` walking a Slack
    interaction's strings was a tenth of the app's CPU per answer."""
    return _encodable(text) and "\\ud" not in text and "\\uD" not in text


def _shallow(text: str, max_depth: int) -> bool:
    """Too few brackets to nest ``max_depth`` levels: each level is an array or an object,
    which opens with ``[`` or ``{`` in the text (brackets inside strings only add to the
    count).  Two counts in C, where walking the value's containers was about a fifth of the
    read of a Slack interaction."""
    return text.count("{") + text.count("[") <= max_depth


def _depth_problem(value: Any, max_depth: int) -> str | None:
    """``shape_problem``'s nesting check alone, a level of containers at a time."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        if depth >= max_depth:
            return f"the JSON is nested deeper than {max_depth} levels"
        children: list[Any] = []
        for item in level:
            found = item.values() if isinstance(item, dict) else item
            children.extend(child for child in found if isinstance(child, dict | list))
        level = children
        depth += 1
    return None


def shape_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Nesting deeper than ``max_depth``, or a lone surrogate in a key or a string (None: fine).
    Walked without recursion, so a deep value can't exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return "the JSON holds a lone UTF-16 surrogate, which is no character"
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return f"the JSON is nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
