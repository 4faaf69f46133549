"""The trend report and the home page as Adaptive Cards.

The trend card says everything in words (``bot.report_words``, the sentences Slack and the
console show), as TextBlocks and FactSets a phone shows well without the picture; the chart
follows the theme scores as an inline ``Image`` (a ``data:`` URL) when the message stays under
Teams' 40 KB limit.  The core's PNG is re-encoded with a small palette to fit (a line chart
loses nothing that way); if even that is too large, the card says the chart is left out and
gives its text alternative instead.  Re-encoding takes some tens of milliseconds: call
``trend_card`` from a worker thread when that matters.

The home card mirrors Slack's App Home (``adapters/slack/home.py``): waiting pulses, each with
an "Answer" ``Action.Execute`` (verb ``pulse.open``, data ``{"teampulse": "open", "round": id}``),
the streak, recent kudos, and for managers a trends action (verb ``trends``, data
``{"teampulse": "trends"}``).
"""

from __future__ import annotations

import base64
import io
from dataclasses import replace

from adapters.teams.adaptive import (
    CARD_BUDGET,
    KIND,
    Element,
    action_set,
    card,
    execute,
    facts,
    fits,
    heading,
    inert,
    size,
    strong,
    subtle,
    text_block,
)
from bot import words
from bot.report_words import NO_RESULTS, ReportWords
from bot.report_words import words as report_words
from bot.views import HomeView, KudosItem, PulseCard, TrendReportView

OPEN_VERB = "pulse.open"
TRENDS_VERB = "trends"
MAX_COMMENTS = 10  # as many as Slack's report shows
CHART_LEFT_OUT = "The chart is too large for a Teams message, so it is left out. In words:"
COMMENTS_LEFT_OUT = "{n} more {comments} not shown here."
PALETTES = (64, 16)  # colours tried, in turn, when the chart as rendered is too large
MAX_PNG = 2_000_000  # a PNG larger than this is not re-encoded (it could never fit)


# -- trends --------------------------------------------------------------------------------------
def trend_card(view: TrendReportView) -> Element:
    report = report_words(view)
    comments = list(report.comments[:MAX_COMMENTS])
    body = _trend_body(view, report, comments)
    while not fits(card(body)) and comments:  # (only comments can be long enough to matter)
        comments.pop()
        body = _trend_body(view, report, comments)
    chart = _chart(view, CARD_BUDGET - size(card(body)))
    at = next(i for i, element in enumerate(body) if element.get("id") == "themes") + 1
    return card(body[:at] + chart + body[at:])


def _trend_body(view: TrendReportView, report: ReportWords, comments: list[str]) -> list[Element]:
    """The report in words; ``comments``: those of the report's comments that are shown."""
    themes = [
        (inert(row.theme), inert(f"{row.score} {row.change}".rstrip())) for row in report.themes
    ]
    body: list[Element] = [
        heading(inert(f"Trends: {view.team}"), "Large"),
        subtle(inert(f"{view.scope or view.team}, last {view.weeks} weeks")),
        (facts(themes) if themes else text_block(inert(NO_RESULTS))) | {"id": "themes"},
    ]
    body += _section("Taking part", report.taking_part)
    body += [text_block(inert(line)) for line in report.summary]
    if left_out := len(report.comments) - len(comments):
        more = "comment is" if left_out == 1 else "comments are"
        comments = [*comments, COMMENTS_LEFT_OUT.format(n=left_out, comments=more)]
    body += _section("Comments", tuple(comments))
    body += _section("Teams below", report.teams_below)
    body += _section("Kudos", report.kudos)
    body += [text_block(inert(note), isSubtle=True) for note in view.notes]
    return [*body, subtle(inert(view.footnote)) | {"separator": True}]


def _section(title: str, lines: tuple[str, ...]) -> list[Element]:
    if not lines:
        return []
    return [heading(inert(title), "Default")] + [
        text_block(inert(line), spacing="Small") for line in lines
    ]


def _chart(view: TrendReportView, room: int) -> list[Element]:
    """The chart as an Image if one fits in ``room`` bytes, else why not and its alt text."""
    if not view.chart_png:
        return []
    for png in _encodings(view.chart_png):
        image = {
            "type": "Image",
            "url": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "altText": view.chart_alt,
            "size": "Stretch",
        }
        if size(card([image])) - size(card([])) <= room:
            return [image]
    return [text_block(f"{inert(CHART_LEFT_OUT)} {inert(view.chart_alt)}", isSubtle=True)]


def _encodings(png: bytes) -> list[bytes]:
    """The PNG as rendered, then with fewer colours (smaller each time)."""
    found = [png]
    if len(png) > MAX_PNG:
        return found
    from PIL import Image  # (with the first chart, not at start-up, as bot/charts.py does)

    try:
        with Image.open(io.BytesIO(png)) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return found
    for colours in PALETTES:
        buffer = io.BytesIO()
        rgb.quantize(colours, dither=Image.Dither.NONE).save(buffer, "PNG", optimize=True)
        found.append(buffer.getvalue())
    return found


# -- home ----------------------------------------------------------------------------------------
def home_card(view: HomeView) -> Element:
    if view.notice:
        return card([text_block(inert(view.notice))])
    body: list[Element] = [
        heading(inert(words.greeting(view)), "Large"),
        heading(inert(words.HOME_PULSES)),
    ]
    for pulse in view.pulses:
        body += _pulse(pulse)
    if not view.pulses:
        body.append(text_block(inert(words.NO_PULSE)))
    body += [
        text_block(("🔥 " if view.streak else "") + words.streak(view.streak, strong)),
        subtle(inert(words.STREAK_PRIVATE)),
        heading(inert(words.HOME_KUDOS)) | {"separator": True},
        text_block(strong(inert(words.RECEIVED))),
        *(_kudos(view.kudos_received, given=False) or [text_block(inert(words.NONE_RECEIVED))]),
        text_block(strong(inert(words.GIVEN))),
        *(_kudos(view.kudos_given, given=True) or [text_block(words.NONE_GIVEN)]),
    ]
    if view.is_manager:
        trends = execute(words.LATEST_TRENDS, TRENDS_VERB, {KIND: TRENDS_VERB})
        body += [action_set(trends) | {"separator": True}, subtle(inert(words.REPORT_IN_DM))]
    return card(body)


def _pulse(pulse: PulseCard) -> list[Element]:
    line = words.home_pulse(replace(pulse, team=inert(pulse.team)), strong)
    answer = execute(
        words.ANSWER_PULSE, OPEN_VERB, {KIND: "open", "round": pulse.round_id}, style="positive"
    )
    return [text_block(line), action_set(answer)]


def _kudos(items: tuple[KudosItem, ...], *, given: bool) -> list[Element]:
    found: list[Element] = []
    for item in items:
        safe = replace(item, people=tuple(inert(p) for p in item.people), value=inert(item.value))
        head, message = words.kudos_item(safe, given=given, strong=strong)
        found += [text_block(head, spacing="Small"), text_block(inert(message), isSubtle=True)]
    return found
