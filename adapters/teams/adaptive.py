"""Adaptive Card building blocks for the Teams cards (``cards.py``, ``pulse_card.py``,
``report_card.py``): plain JSON dicts, no SDK, no I/O.

- ``attachment(card)``: a card as a Bot Framework message attachment.
- ``inert(text)``: text someone wrote, shown as typed in a ``TextBlock`` (no link, formatting
  or ``<at>`` mention can be smuggled in).
- ``markup(text)``: the core's own words (a ``TextReply``), whose only markup is ``*strong*``
  and `` `code` ``, as Markdown in which nothing else is live (they carry team names, channel
  names and words people typed).
- ``card(body, actions)``, ``text_block``, ``facts``, ``execute``: the elements the cards use.
- ``fits(card)``: whether a message carrying the card stays under Teams' 40 KB limit.

Every card is version 1.5, the highest Teams renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

Element = dict[str, Any]

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
KIND = "teampulse"  # the key of every action's data that says what the action is
# Teams refuses a message over 40 KB (413 MessageSizeTooBig); a card leaves room for the rest
# of the activity (ids, the conversation reference, a summary line)
MESSAGE_LIMIT = 40_000
ENVELOPE = 2_000
CARD_BUDGET = MESSAGE_LIMIT - ENVELOPE

# characters that are Markdown wherever they stand (``\`` first: it is the escape itself);
# ``&`` starts an entity and ``<`` an autolink, HTML or a Teams ``<at>`` mention
_ANYWHERE = re.compile(r"([\\`*_\[\]<>&~|])")
# what is Markdown only at the start of a line: a heading, list item, quote, setext underline
_LINE_START = re.compile(r"^([#>+=-])")
_ORDERED = re.compile(r"^(\d+)([.)])(?=[ \t]|$)")  # "1. " starts a list; "3.40" does not
# the core's own markup in a TextReply (as the web chat reads it: ``dom.js``'s ``inline``)
_CORE_MARKUP = re.compile(r"(\*[^*\n]+\*|`[^`\n]+`)")
# code kept as code: CommonMark reads a code span literally, and no client can find a mention
# (``<at>``), HTML, an entity or a link (``](``, which the mobile clients' older parser links
# wherever it stands) in one without these
_PLAIN_CODE = re.compile(r"(?!.*\]\()[^\\`<>&]+")


def attachment(card: Element) -> Element:
    """A card as an activity's attachment."""
    return {"contentType": CONTENT_TYPE, "content": card}


def inert(text: str) -> str:
    """``text`` as a TextBlock shows it, typed characters and all: every Markdown character is
    backslash-escaped (CommonMark, as Teams' desktop and web clients and the ``adaptivecards``
    library read it), a ``](`` is broken up (the older shared card parser of the mobile
    clients links ``[x](y)`` whatever precedes the ``[``), and each line's indentation is
    dropped (four spaces would make a code block, two at the end a line break)."""
    return "\n".join(_line_start(_inline(line.strip(" \t"))) for line in _lines(text))


def markup(text: str) -> str:
    """The core's words as Markdown: its ``*strong*`` becomes ``**strong**`` and its
    `` `code` `` stays code unless it holds ``<``, ``>``, ``&``, a backslash or ``](`` (then it
    is shown as text); everything else goes through the same escaping as ``inert``."""
    lines = []
    for line in _lines(text):
        pieces = _CORE_MARKUP.split(line.strip(" \t"))
        for at in range(1, len(pieces), 2):  # odd pieces are the markup matched
            inner = pieces[at][1:-1]
            if pieces[at].startswith("*"):
                pieces[at] = f"**{_inline(inner)}**"
            elif not _PLAIN_CODE.fullmatch(inner):
                pieces[at] = _inline(inner)
        for at in range(0, len(pieces), 2):
            pieces[at] = _inline(pieces[at])
        lines.append(_line_start("".join(pieces)))
    return "\n".join(lines)


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _inline(text: str) -> str:
    """Markdown characters escaped wherever they stand, and ``](`` broken up."""
    return _ANYWHERE.sub(r"\\\1", text).replace("\\](", "\\]\\(")


def _line_start(line: str) -> str:
    """A heading, list, quote or setext marker at the start of a line escaped."""
    return _ORDERED.sub(r"\1\\\2", _LINE_START.sub(r"\\\1", line))


def strong(text: str) -> str:
    """Bold, for ``bot.words``' ``strong`` (``text`` already made inert)."""
    return f"**{text}**"


def card(body: list[Element], actions: list[Element] | None = None) -> Element:
    found: Element = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    return found | ({"actions": actions} if actions else {})


def text_block(text: str, **style: Any) -> Element:
    """A wrapping TextBlock (``style``: ``size``, ``weight``, ``color``, ``isSubtle``,
    ``spacing``…); ``text`` is Markdown, so what others wrote goes through ``inert`` first."""
    return {"type": "TextBlock", "text": text, "wrap": True} | style


def heading(text: str, size: str = "Medium") -> Element:
    return text_block(text, size=size, weight="Bolder", style="heading")


def subtle(text: str) -> Element:
    return text_block(text, isSubtle=True, size="Small", spacing="Small")


def problem(text: str) -> Element:
    """A form's problem, in red, next to the input it is about."""
    return text_block(text, color="Attention", spacing="Small")


def facts(rows: list[tuple[str, str]]) -> Element:
    """A FactSet (title and value read as Markdown too: pass them inert)."""
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in rows]}


def execute(title: str, verb: str, data: Mapping[str, Any], **style: Any) -> Element:
    """An ``Action.Execute`` (Universal Actions: an ``adaptiveCard/action`` invoke), falling
    back to an ``Action.Submit`` with the same data (a message with ``value``) on clients
    without Universal Actions."""
    submit = {"type": "Action.Submit", "title": title, "data": dict(data)} | style
    found = {"type": "Action.Execute", "title": title, "verb": verb, "data": dict(data)}
    return found | style | {"fallback": submit}


def action_set(*actions: Element) -> Element:
    return {"type": "ActionSet", "actions": list(actions)}


def size(card: Element) -> int:
    """The card's size in a message, as sent (JSON, non-ASCII escaped: the larger form)."""
    return len(json.dumps(attachment(card)).encode())


def fits(card: Element) -> bool:
    return size(card) <= CARD_BUDGET
