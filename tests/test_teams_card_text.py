"""Teams Adaptive Cards, what they say: text people wrote shown as typed (checked with
markdown-it, the CommonMark renderer), the kudos post, the trend report readable without its
chart and within Teams' 40 KB message limit, the home page."""

from __future__ import annotations

import base64
import io
import json
import random
import re
from datetime import date, timedelta
from functools import cache

from PIL import Image

from adapters.teams.adaptive import inert
from adapters.teams.cards import attachment, card_for
from bot.charts import render_png
from bot.forms import PICK_ONE, FieldProblem
from bot.report_words import words as report_words
from bot.views import (
    CardQuestion,
    HomeView,
    KudosItem,
    KudosPost,
    PulseCard,
    Receipt,
    TextReply,
    TrendReportView,
    View,
)
from surveys.trends import ChildRow, RoundRow, ThemeRow, TrendSummary
from tests.card_check import check, of_type, shown_texts

HOSTILE = [
    "[payslip](https://evil.example)",
    "**x**",
    "<at>everyone</at>",
    "&lt;b&gt;",
    "# Heading",
    "- item",
    "1. first",
    "3) third",
    "> quote",
    "`code`",
    "_under_ ~~gone~~ |a|b|",
    "<https://evil.example> <b>bold</b> &amp; &#91;",
    "![img](https://evil.example/x.png)",
    "trailing backslash \\",
    "===",
]
MARKDOWN = re.compile(r"</?(a|strong|em|h\d|li|ul|ol|code|pre|blockquote|img|hr|s|table)\b")
QUESTIONS = (
    CardQuestion("speak_up", "I feel safe to speak up", "Safety"),
    CardQuestion("valued", "I feel valued", "Valued"),
)
PULSE = PulseCard(41, "Ward B", "Fri 4 Dec", QUESTIONS)
KUDOS = KudosPost(
    giver="Ann *Boss*",
    recipients=("Bob [x](https://evil.example)", "<at>everyone</at>"),
    message="**Thanks** for the [payslip](https://evil.example)",
    value="teamwork",
    value_label="Teamwork",
    teams=("Ward B",),
    day="30 Nov 2026",
)
THEMES = ["Safety", "Valued", "Supported", "Respected", "Wellbeing", "Teamwork", "Voice"]


@cache
def chart(weeks: int = 12, themes: int = 7) -> bytes:
    start = date(2026, 9, 7)
    series = {
        theme: [(start + timedelta(weeks=w), 3 + ((w * 7 + i * 3) % 10) / 7) for w in range(weeks)]
        for i, theme in enumerate(THEMES[:themes])
    }
    return render_png(
        TrendSummary(weeks, [], [], series, start - timedelta(weeks=weeks), start), "B"
    )


def trends(
    png: bytes | None = None, comments: int = 2, comment: str = HOSTILE[0]
) -> TrendReportView:
    return TrendReportView(
        team="Ward B",
        weeks=12,
        themes=(
            ThemeRow("Safety", 3.4, 60.0, 0.4, True, 12, "▲ +0.40"),
            ThemeRow("Valued", None, None, None, False, 3),
        ),
        rounds=(RoundRow("w/c 7 Sep", date(2026, 9, 7), 10, 7, 70.0),),
        notes=("Week of 14 Sep left out: too few answers.",),
        footnote="Scores: mean of 1 to 5 (p < 0.05).",
        chart_png=png,
        chart_alt="Line chart of theme scores for Ward B by week: Safety latest 3.4.",
        recognition=(("teamwork", 3),),
        recognition_given=(("kindness", 1),),
        advocacy=12.0,
        children=(ChildRow("Ward B1", 3.2, 6),),
        mood="mostly positive",
        comments=tuple(("Safety", f"{comment} {n}") for n in range(comments)),
    )


HOME = HomeView(
    name="Bob *Ward*",
    pulses=(PULSE, PulseCard(42, "Nights [x](y)", "Sat 5 Dec", QUESTIONS, reminder=True)),
    streak=3,
    kudos_received=(
        KudosItem(("Ann _A_",), "**Well** done [here](https://e.example)", "care", "1 Dec"),
    ),
    kudos_given=(KudosItem(("Cy",), "Thanks", "teamwork", "2 Dec"),),
    is_manager=True,
)


def sample_views() -> list[View | HomeView]:
    """One of each card the adapter draws (hostile text where people write)."""
    return [
        PULSE,
        PulseCard(41, "Ward B", "Fri 4 Dec", QUESTIONS, reminder=True),
        Receipt(41, "Ward B", "Thank you, your answers are in."),
        KUDOS,
        trends(chart()),
        TrendReportView("Tiny", 4, (), (), (), "Results appear for 5 or more."),
        HOME,
        HomeView(name="Di"),
        HomeView(name="", notice="I don't know you yet."),
        TextReply("That didn't work.", kind="error", problems=(FieldProblem("x", PICK_ONE),)),
        TextReply("Done.", kind="success"),
    ]


def rendered(texts: list[str]) -> list[str]:
    html: list[str] = check([], texts)["markdown"]
    return html


def as_html(text: str) -> str:
    """What markdown-it shows for plain text in a paragraph."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace('"', "&quot;")


def test_text_people_wrote_is_shown_as_typed_with_no_link_formatting_or_mention() -> None:
    alphabet = "ab 1.)#>-+=*_`[]()<>&;!~|\\:/"
    rng = random.Random(10)
    samples = HOSTILE + ["".join(rng.choices(alphabet, k=rng.randint(1, 30))) for _ in range(400)]
    samples = [sample.strip() for sample in samples if sample.strip()]
    for sample, html in zip(samples, rendered([inert(s) for s in samples]), strict=True):
        assert html == f"<p>{as_html(sample)}</p>\n", sample
    for sample in samples:  # the mobile clients' older parser: nothing it reads is left bare
        bare = re.sub(r"\\.", "", inert(sample))
        assert not set(bare) & set("*_[]<>&`\\~|") and "](" not in inert(sample), sample


def test_several_lines_stay_plain_paragraphs() -> None:
    text = "Fine\n# not a heading\n    - not code\n1. not a list\n===\n> no quote\n\n+ plain"
    [html] = rendered([inert(text)])
    assert not MARKDOWN.search(html) and "not a heading" in html and "not code" in html


def test_every_text_on_every_card_is_plain_but_for_the_cores_own_bold_and_code() -> None:
    cards = [card_for(view) or {} for view in sample_views()]
    for card in cards:
        for html in rendered(shown_texts(card)):
            assert not re.search(r"<(a|em|h\d|li|img|blockquote|pre)\b", html), html
            assert 'evil.example"' not in html and "<at>" not in html


def test_a_kudos_post_celebrates_by_name_with_the_message_as_typed() -> None:
    card = card_for(KUDOS) or {}
    texts = shown_texts(card)
    [headline, message, tag] = rendered(texts)
    assert headline == (
        "<p>🎉 <strong>Ann *Boss*</strong> celebrated <strong>Bob [x](https://evil.example), "
        "&lt;at&gt;everyone&lt;/at&gt;</strong></p>\n"
    )
    assert message == f"<p>{as_html(KUDOS.message)}</p>\n"
    assert tag == "<p><strong>#teamwork</strong> · Teamwork · 30 Nov 2026</p>\n"


def test_a_receipt_thanks_and_shows_the_team_only() -> None:
    card = card_for(Receipt(41, "Ward B", "Thank you, your answers are in.")) or {}
    assert shown_texts(card) == ["✅ Ward B pulse: answered", "Thank you, your answers are in."]
    assert of_type(card, "Input.ChoiceSet") == [] and "actions" not in card


def test_the_trend_report_reads_in_full_without_its_chart() -> None:
    view = trends(chart())
    card = card_for(view) or {}
    texts = shown_texts(card)
    report = report_words(view)
    for row in report.themes:
        assert inert(row.theme) in texts and inert(f"{row.score} {row.change}".strip()) in texts
    lines = [*report.taking_part, *report.summary, *report.comments, *report.teams_below]
    for line in [*lines, *report.kudos, *view.notes, view.footnote]:
        assert inert(line) in texts, line
    assert texts[0] == "Trends: Ward B"


def test_the_chart_is_shown_when_the_message_stays_under_40_kb() -> None:
    png = chart(weeks=26)
    view = trends(png, comments=10, comment="Calmer handovers since May. " * 35)
    card = card_for(view) or {}
    [image] = of_type(card, "Image")
    assert image["altText"] == view.chart_alt
    data = base64.b64decode(image["url"].removeprefix("data:image/png;base64,"))
    with Image.open(io.BytesIO(data)) as shown, Image.open(io.BytesIO(png)) as drawn:
        assert shown.format == "PNG" and shown.size == drawn.size
    assert len(json.dumps(attachment(card)).encode()) < 40_000
    assert sum(text.startswith("“Calmer") for text in shown_texts(card)) == 10


def test_a_chart_too_large_for_teams_is_left_out_and_said_in_words() -> None:
    noise = Image.frombytes("RGB", (600, 400), random.Random(3).randbytes(600 * 400 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    view = trends(buffer.getvalue(), comments=10, comment="x" * 1000)
    card = card_for(view) or {}
    assert of_type(card, "Image") == []
    assert any("too large" in text and "Safety latest 3.4" in text for text in shown_texts(card))
    assert len(json.dumps(attachment(card)).encode()) < 40_000


def test_comments_that_cannot_all_fit_say_how_many_are_left_out() -> None:
    card = card_for(trends(None, comments=10, comment="😀" * 1000)) or {}  # 12 bytes each, sent
    assert len(json.dumps(attachment(card)).encode()) < 40_000
    assert any(
        re.match(r"\d+ more comments? (is|are) not shown here", text) for text in shown_texts(card)
    )
    assert check([card])["cards"] == [{"events": [], "failures": [], "dropped": []}]


def test_the_home_card_shows_waiting_pulses_streak_kudos_and_trends_for_managers() -> None:
    card = card_for(HOME) or {}
    texts = shown_texts(card)
    answers = [a for a in of_type(card, "Action.Execute") if a["verb"] == "pulse.open"]
    assert [a["data"] for a in answers] == [
        {"teampulse": "open", "round": 41},
        {"teampulse": "open", "round": 42},
    ]
    assert all(a["title"] == "Answer the pulse" for a in answers)
    assert all(a["fallback"]["data"] == a["data"] for a in answers)
    assert any("**3**" in text and "in a row" in text for text in texts)
    assert any(inert("**Well** done [here](https://e.example)") == text for text in texts)
    [trends_action] = [a for a in of_type(card, "Action.Execute") if a["verb"] == "trends"]
    assert trends_action["data"] == {"teampulse": "trends"}
    staff = card_for(HomeView(name="Di")) or {}
    assert [a["verb"] for a in of_type(staff, "Action.Execute")] == []
    assert any("No pulse is waiting" in text for text in shown_texts(staff))
    stranger = card_for(HomeView(name="", notice="I don't know you yet.")) or {}
    assert shown_texts(stranger) == ["I don't know you yet."]


def test_only_errors_and_successes_become_cards() -> None:
    assert card_for(TextReply("Here is some help.")) is None
    error = card_for(TextReply("No such team.", kind="error")) or {}
    assert shown_texts(error) == ["⚠️ No such team."]
    done = card_for(TextReply("Sent.", kind="success")) or {}
    assert shown_texts(done) == ["✅ Sent."]
