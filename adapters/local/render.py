"""Render the core's views as JSON for the web chat (and as text for the console)."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import asdict
from typing import Any

from bot import words
from bot.report_words import words as report_words
from bot.views import KudosPost, PulseCard, Receipt, TextReply, TrendReportView, View

JSON = dict[str, Any]


class ChartStore:
    """Recently rendered chart PNGs, served at ``/local/charts/{id}.png`` (bounded, in memory)."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._charts: OrderedDict[str, bytes] = OrderedDict()

    def put(self, png: bytes) -> str:
        key = secrets.token_urlsafe(12)
        self._charts[key] = png
        while len(self._charts) > self.capacity:
            self._charts.popitem(last=False)
        return key

    def get(self, key: str) -> bytes | None:
        return self._charts.get(key)


def to_json(view: View, charts: ChartStore) -> JSON:
    match view:
        case TextReply():
            found: JSON = {"type": "text", "text": view.text, "kind": view.kind}
            if view.round_id is not None:  # (an outcome after the form: the page's card goes)
                found |= {"round_id": view.round_id, "retry": view.retry}
            return found
        case PulseCard():
            return {"type": "pulse", **asdict(view)}
        case Receipt():
            return {
                "type": "receipt",
                "round_id": view.round_id,
                "team": view.team,
                "text": view.text,
            }
        case KudosPost():
            return {"type": "kudos", **asdict(view)}
        case TrendReportView():
            return _trends_json(view, charts)


def _trends_json(view: TrendReportView, charts: ChartStore) -> JSON:
    data = asdict(view)
    png = data.pop("chart_png")
    data["chart_url"] = f"/local/charts/{charts.put(png)}.png" if png else None
    for row in data["rounds"]:
        row["week"] = str(row["week"])
    return {"type": "trends", **data}


def to_text(view: View) -> str:
    """Plain text for the terminal chat."""
    match view:
        case TextReply() | Receipt():
            return view.text
        case PulseCard():
            lines = [f"{words.pulse_title(view)} (closes {view.closes_on})", view.intro]
            lines += [f"  {i}. {q.text}  [{q.theme}]" for i, q in enumerate(view.questions, 1)]
            return "\n".join(lines)
        case KudosPost():
            headline = words.celebrated(view.giver, ", ".join(view.recipients))
            return f"{headline}: {view.message} #{view.value} ({view.value_label})"
        case TrendReportView():
            return _trends_text(view)


def _trends_text(view: TrendReportView) -> str:
    report = report_words(view)
    lines = [report.title]
    lines += [f"  {row.theme:<32} {row.score}  {row.change}".rstrip() for row in report.themes]
    lines += [f"  {line}" for line in report.taking_part]
    lines += [f"  note: {note}" for note in view.notes]
    lines += [f"  {line}" for line in (*report.summary, *report.comments)]
    lines += [f"  below: {line}" for line in report.teams_below]
    lines += [f"  Kudos {line[0].lower()}{line[1:]}" for line in report.kudos]
    lines.append(f"  {view.footnote}")
    return "\n".join(lines)
