"""The core's views as Teams messages: an Adaptive Card (``adapters/teams/cards.py``) where the
view has one, else Markdown text.

A ``TextReply`` is the core's own words, with its own markup (``*strong*``, `` `code` ``) made
Markdown and everything else escaped (``adaptive.markup``): it carries team and channel names and
words people typed.  The text fallback of the other views carries words other people wrote
(kudos messages, comments, names), so all of it is escaped (``adaptive.inert``): nobody's text
can become a link, a mention or formatting in someone else's chat.
"""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.teams.adaptive import inert, markup
from adapters.teams.cards import attachment, card_for, summary
from bot import words
from bot.report_words import words as report_words
from bot.views import HomeView, KudosPost, PulseCard, Receipt, TextReply, TrendReportView, View


async def rendered(view: View | HomeView) -> dict[str, Any]:
    """``message(view)``, a trend report's in a worker thread: its chart is re-encoded to fit
    Teams' message size (tens of milliseconds that would hold every other request)."""
    if isinstance(view, TrendReportView):
        return await asyncio.to_thread(message, view)
    return message(view)


def message(view: View | HomeView) -> dict[str, Any]:
    """The message activity (plain JSON) that shows ``view``."""
    card = card_for(view)
    if card is None:
        assert not isinstance(view, HomeView), "a home view always has its card"
        return {"type": "message", "text": to_markdown(view), "textFormat": "markdown"}
    return {"type": "message", "summary": summary(view), "attachments": [attachment(card)]}


def to_markdown(view: View) -> str:
    if isinstance(view, TextReply):
        return markup(view.text)
    return "\n\n".join(inert(line) for line in fallback_lines(view))


def fallback_lines(view: View) -> list[str]:
    match view:
        case TextReply() | Receipt():
            return [view.text]
        case PulseCard():
            lines = [f"{words.pulse_title(view)} (closes {view.closes_on})", view.intro]
            return lines + [f"{i}. {q.text} [{q.theme}]" for i, q in enumerate(view.questions, 1)]
        case KudosPost():
            headline = words.celebrated(view.giver, ", ".join(view.recipients))
            return [f"{headline}: {view.message} #{view.value} ({view.value_label})"]
        case TrendReportView():
            return trend_lines(view)


def trend_lines(view: TrendReportView) -> list[str]:
    report = report_words(view)
    lines = [report.title]
    lines += [f"{row.theme}: {row.score} {row.change}".rstrip() for row in report.themes]
    lines += [*report.taking_part, *(f"Note: {note}" for note in view.notes)]
    lines += [*report.summary, *report.comments]
    lines += [f"Below: {line}" for line in report.teams_below]
    lines += [f"Kudos {line[0].lower()}{line[1:]}" for line in report.kudos]
    return [*lines, view.footnote]
