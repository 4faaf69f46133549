"""The core's views as Adaptive Cards (version 1.5): pure functions from a view to plain JSON
dicts, with no SDK and no I/O, for whatever sends them (a reply, a proactive message, an
``Action.Execute`` response that replaces a card).

- ``card_for(view, *, problems=(), values=None) -> dict | None``: the card of a ``PulseCard``
  (the whole form, ``pulse_card.py``), ``Receipt``, ``KudosPost``, ``TrendReportView`` and
  ``HomeView`` (``report_card.py``), and of a ``TextReply`` of kind ``error`` or ``success``;
  None for an ``info`` ``TextReply``, which goes as a Markdown message
  (``render.to_markdown``).  For a pulse card, ``problems`` (a refused submission's
  ``TextReply.problems``) and ``values`` (``PulseSubmission.values``) show the form again with
  each problem under its input and what the person had chosen kept.
- ``notice_card(reply)``: any ``TextReply`` as a card (to replace a submitted form with "already
  answered", say).
- ``attachment(card)``: ``{"contentType": "application/vnd.microsoft.card.adaptive", "content":
  card}``.
- ``summary(view)``: the one line a notification shows for the card.
- ``read_pulse_submission(value) -> PulseSubmission | TextReply``: a submitted pulse form.

Every action carries ``{"teampulse": what, …}`` in its data: ``pulse`` (verb ``pulse.submit``:
the form, ``CardForm`` under ``form``), ``open`` (verb ``pulse.open``, ``round``: a round id)
and ``trends`` (verb ``trends``).  Each is an ``Action.Execute`` with an ``Action.Submit``
fallback carrying the same data.  Text that people wrote (names, kudos, comments) goes through
``inert``, so it shows as typed: no link, formatting or mention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from adapters.teams.adaptive import (
    Element,
    attachment,
    card,
    heading,
    inert,
    markup,
    problem,
    strong,
    subtle,
    text_block,
)
from adapters.teams.pulse_card import PulseSubmission, pulse_card, read_pulse_submission
from adapters.teams.report_card import home_card, trend_card
from bot import words
from bot.forms import FieldProblem
from bot.report_words import words as report_words
from bot.views import HomeView, KudosPost, PulseCard, Receipt, TextReply, TrendReportView, View

__all__ = [
    "PulseSubmission",
    "attachment",
    "card_for",
    "notice_card",
    "read_pulse_submission",
    "summary",
]

ICONS = {"error": "⚠️ ", "success": "✅ "}


def card_for(
    view: View | HomeView,
    *,
    problems: Sequence[FieldProblem] = (),
    values: Mapping[str, str] | None = None,
) -> Element | None:
    match view:
        case PulseCard():
            return pulse_card(view, problems=problems, values=values)
        case Receipt():
            return receipt_card(view)
        case KudosPost():
            return kudos_card(view)
        case TrendReportView():
            return trend_card(view)
        case HomeView():
            return home_card(view)
        case TextReply():
            return notice_card(view) if view.kind in ICONS else None


def notice_card(reply: TextReply) -> Element:
    """A ``TextReply`` (the core's own words, as in a text message) as a card."""
    body = [text_block(ICONS.get(reply.kind, "") + markup(reply.text))]
    return card(body + [problem(inert(item.text)) for item in reply.problems])


def receipt_card(view: Receipt) -> Element:
    """Thanks, and nothing of the answers (no score, no comment)."""
    return card([heading("✅ " + inert(words.receipt_title(view))), text_block(inert(view.text))])


def kudos_card(view: KudosPost) -> Element:
    """The celebration posted in the team's channel."""
    giver, names = inert(view.giver), inert(", ".join(view.recipients))
    tag = words.kudos_tag(
        replace(view, value=inert(view.value), value_label=inert(view.value_label)),
        strong,
    )
    message = {
        "type": "Container",
        "style": "emphasis",
        "items": [text_block(inert(view.message))],
    }
    return card(
        [text_block(words.celebrated(giver, names, strong), size="Medium"), message, subtle(tag)]
    )


def summary(view: View | HomeView) -> str:
    """The card's one line for notifications and screen readers (plain text)."""
    match view:
        case PulseCard():
            return words.pulse_notification(view)
        case Receipt():
            return words.receipt_notification(view)
        case KudosPost():
            return words.celebrated(view.giver, ", ".join(view.recipients))
        case TrendReportView():
            return report_words(view).title
        case HomeView():
            return words.greeting(view)
        case TextReply():
            return view.text
