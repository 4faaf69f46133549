"""A trend report's words, written once: every platform's renderer lays these lines out in its
own way (Block Kit sections, Adaptive Card text blocks, the console's lines), and none words a
score, a change or a group on its own."""

from __future__ import annotations

from dataclasses import dataclass

from bot.views import TrendReportView

NO_RESULTS = "No results to show yet for this period."


@dataclass(frozen=True)
class ThemeWords:
    theme: str
    score: str  # "3.40 · 60% favourable", or why it isn't shown
    change: str  # "▲ +0.40", "· +0.10 (not a real change)", or "" with nothing to compare


@dataclass(frozen=True)
class ReportWords:
    title: str  # "Trends for Ward B, last 12 weeks"
    themes: tuple[ThemeWords, ...]
    taking_part: tuple[str, ...]  # one line per round
    summary: tuple[str, ...]  # advocacy and the mood of comments
    comments: tuple[str, ...]  # “comment” (theme)
    teams_below: tuple[str, ...]
    kudos: tuple[str, ...]  # received and given, by value


def score(mean: float | None, favourable: float | None) -> str:
    if mean is None:
        return "not shown (too few answers)"
    return f"{mean:.2f}" + (f" · {favourable:.0f}% favourable" if favourable is not None else "")


def words(view: TrendReportView) -> ReportWords:
    scope = view.scope or view.team
    taking_part = tuple(
        f"{r.label}: {r.respondents}/{r.invited} ({r.rate:.0f}%)"
        if r.respondents is not None and r.rate is not None
        else f"{r.label}: too few to show"
        for r in view.rounds
    )
    summary = []
    if view.advocacy is not None:
        summary.append(
            f"Advocacy (% agree minus % disagree, would recommend): {view.advocacy:+.0f}"
        )
    if view.mood:
        summary.append(f"Mood of comments: {view.mood}")
    below = tuple(
        f"{c.team}: {c.mean:.2f} (up to {c.respondents} people a week)"
        if c.mean is not None
        else f"{c.team}: included above"
        for c in view.children
    )
    kudos = [
        f"{label}: " + ", ".join(f"#{value} {count}" for value, count in counts)
        for label, counts in (("Received", view.recognition), ("Given", view.recognition_given))
        if counts
    ]
    return ReportWords(
        title=f"Trends for {scope}, last {view.weeks} weeks",
        themes=tuple(
            ThemeWords(row.theme, score(row.mean, row.favourable), row.change_label)
            for row in view.themes
        ),
        taking_part=taking_part,
        summary=tuple(summary),
        comments=tuple(f"“{comment}” ({theme})" for theme, comment in view.comments),
        teams_below=below,
        kudos=tuple(kudos),
    )
