"""Trend summaries for a team's part of the organisation, read from the published rollups.

Everything shown comes from ``rollup_cell`` / ``rollup_week`` rows marked published (see
surveys/disclosure.py), so a report never shows a group below the threshold, directly or by
subtracting another report.  A period's figures are sums of published weeks only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Result, Select, func
from sqlalchemy import select as select_columns
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.lists import one_of
from storage.models import RollupCell, Team
from surveys import lazy
from surveys.anonymity import Thresholds
from surveys.bank import load_bank
from surveys.comments import GENERAL, SAMPLE, published_counts, sample_comments
from surveys.report_rows import Cell, Week, team_rows
from surveys.rollup import ADVOCACY, week_of

SIGNIFICANCE = 0.05
__all__ = ["GENERAL", "TrendSummary", "change_label", "team_trend"]
FOOTNOTE = (
    "Scores: mean of 1 (strongly disagree) to 5 (strongly agree), negatively worded statements "
    "reversed; favourable = agree or strongly agree; advocacy = % agree minus % disagree on the "
    "two recommend statements. A change is marked real (▲/▼) only when Welch's t-test finds it "
    "significant at the 95% confidence level (p < 0.05) against the previous period of the same "
    "length. Results appear only for closed pulses, for groups of at least {k} respondents, and "
    "never where subtracting another report would reveal a smaller group."
)


@dataclass(frozen=True)
class ThemeRow:
    theme: str
    mean: float | None
    favourable: float | None
    change: float | None
    significant: bool
    respondents: int
    change_label: str = ""  # the change as every platform words it (``change_label``)


@dataclass(frozen=True)
class RoundRow:
    label: str
    week: date
    invited: int | None
    respondents: int | None
    rate: float | None


@dataclass(frozen=True)
class ChildRow:
    """A team below the reported one: mean over its published cells; ``respondents`` is the
    largest published (week, theme) group, a fair "how many people" without double counting."""

    team: str
    mean: float | None
    respondents: int | None


@dataclass
class _Stats:
    answers: int = 0
    total: float = 0.0
    squares: float = 0.0
    favourable: int = 0
    unfavourable: int = 0
    respondents: int = 0

    def add(self, cell: Cell) -> None:
        self.answers += cell.answers
        self.total += cell.total
        self.squares += cell.squares
        self.favourable += cell.favourable
        self.unfavourable += cell.unfavourable
        self.respondents += cell.respondents

    @property
    def mean(self) -> float:
        return self.total / self.answers

    @property
    def std(self) -> float:
        if self.answers < 2:
            return 0.0
        variance = (self.squares - self.total**2 / self.answers) / (self.answers - 1)
        return math.sqrt(max(variance, 0.0))


@dataclass
class TrendSummary:
    weeks: int
    themes: list[ThemeRow]
    rounds: list[RoundRow]
    series: dict[str, list[tuple[date, float]]]
    previous_start: date
    period_start: date
    advocacy: float | None = None
    children: list[ChildRow] = field(default_factory=list)
    comments: list[tuple[str, str]] = field(default_factory=list)
    comment_total: int = 0  # every published comment of the period; ``comments`` is a sample
    mood: float | None = None
    notes: list[str] = field(default_factory=list)


async def _run(
    session: AsyncSession, query: Select[Any], values: dict[str, Any] | None = None
) -> Result[Any]:
    connection = await session.connection()
    return await connection.execute(query, values)


def _welch(now: _Stats, before: _Stats) -> bool:
    if now.answers < 2 or before.answers < 2 or (now.std == 0 and before.std == 0):
        return False
    p = welch_pvalue(now.mean, now.std, now.answers, before.mean, before.std, before.answers)
    return p < SIGNIFICANCE


def welch_pvalue(mean1: float, std1: float, n1: int, mean2: float, std2: float, n2: int) -> float:
    """Welch's two-sided t-test from two groups' summaries: the statistic and its degrees of
    freedom (Welch-Satterthwaite) as SciPy's ``ttest_ind_from_stats(..., equal_var=False)``
    computes them, and the t distribution's tail from SciPy's ``special.stdtr``.  The same
    p-value (``tests/test_welch.py``) at a fiftieth of the cost (the whole call took 60 to 85
    µs, a dozen times a report) and without importing ``scipy.stats`` (two seconds cold)."""
    spread1, spread2 = std1**2 / n1, std2**2 / n2
    if spread1 + spread2 == 0:
        return 1.0  # (neither group varies: no evidence of a change)
    t = (mean1 - mean2) / math.sqrt(spread1 + spread2)
    df = (spread1 + spread2) ** 2 / (spread1**2 / (n1 - 1) + spread2**2 / (n2 - 1))
    special = lazy.load("scipy.special")  # (the first report that compares imports it: lazy.py)
    return float(2 * special.stdtr(df, -abs(t)))


def _theme_rows(cells: list[Cell], period_start: date) -> list[ThemeRow]:
    current: dict[str, _Stats] = {}
    previous: dict[str, _Stats] = {}
    for cell in cells:
        bucket = current if cell.week >= period_start else previous
        bucket.setdefault(cell.theme, _Stats()).add(cell)
    rows = []
    for theme in load_bank().themes:
        now, before = current.get(theme.id), previous.get(theme.id)
        if now is None:
            continue
        change = round(now.mean - before.mean, 2) if before else None
        significant = bool(before and _welch(now, before))
        rows.append(
            ThemeRow(
                theme=theme.name,
                mean=round(now.mean, 2),
                favourable=round(100 * now.favourable / now.answers),
                change=change,
                significant=significant,
                respondents=now.respondents,
                change_label=change_label(change, significant),
            )
        )
    return rows


def change_label(change: float | None, significant: bool) -> str:
    """A theme's change against the previous period, worded once for every platform:
    "▲ +0.40" or "▼ -0.30" when Welch's test finds it real, "· +0.10 (not a real change)" when
    not, and nothing when there is no earlier period to compare with."""
    if change is None:
        return ""
    if not significant:
        return f"· {change:+.2f} (not a real change)"
    return f"{'▲' if change > 0 else '▼'} {change:+.2f}"


def sample_note(shown: int, total: int) -> str:
    """Said when a report shows some of its comments: how many of how many, and how chosen."""
    return (
        f"Showing {shown} of {total:,} comments, picked at random (ask again for others); "
        "the mood is over all of them."
    )


def _advocacy(cells: list[Cell], period_start: date) -> float | None:
    stats = _Stats()
    for cell in cells:
        if cell.theme == ADVOCACY and cell.week >= period_start:
            stats.add(cell)
    if not stats.answers:
        return None
    return round(100 * (stats.favourable - stats.unfavourable) / stats.answers)


def _series(cells: list[Cell]) -> dict[str, list[tuple[date, float]]]:
    bank = load_bank()
    series: dict[str, list[tuple[date, float]]] = {}
    for cell in sorted(cells, key=lambda c: c.week):
        if cell.theme != ADVOCACY:
            series.setdefault(bank.theme_name(cell.theme), []).append(
                (cell.week, round(cell.total / cell.answers, 2))
            )
    return series


def _round_row(week: Week) -> RoundRow:
    shown = week.published
    return RoundRow(
        label=f"w/c {week.week:%d %b}",
        week=week.week,
        invited=week.invited if shown else None,
        respondents=week.respondents if shown else None,
        rate=round(100 * week.respondents / week.invited) if shown and week.invited else None,
    )


async def _children(session: AsyncSession, team_id: int, since: date) -> list[ChildRow]:
    """Each team directly below: its overall mean where published, else nothing.  One query for
    their names, one for all their sums: per child, the sums of its published non-advocacy
    cells since ``since`` and its largest published (week, theme) group.  The sums name the
    children found (not a subquery): PostgreSQL, not knowing how many a subquery gives, read
    every team's cells of the weeks through the week's index (25,000 rows for a directorate's
    1,234, 13 ms)."""
    names = select_columns(col(Team.id), col(Team.name)).where(col(Team.parent_id) == team_id)
    children = sorted((await _run(session, names)).all(), key=lambda t: t[1])
    if not children:
        return []
    cells = (
        select_columns(
            col(RollupCell.team_id),
            func.sum(col(RollupCell.total)),
            func.sum(col(RollupCell.answers)),
            func.max(col(RollupCell.respondents)),
        )
        .where(
            one_of(session, col(RollupCell.team_id), (child for child, _ in children)),
            col(RollupCell.week) >= since,
            col(RollupCell.published).is_(True),
            col(RollupCell.theme) != ADVOCACY,
        )
        .group_by(col(RollupCell.team_id))
    )
    sums = {
        team: (total, answers, most)
        for team, total, answers, most in (await _run(session, cells)).all()
    }
    rows = []
    for child, name in children:
        total, answers, most = sums.get(child, (0.0, 0, 0))
        shown = bool(answers)
        rows.append(
            ChildRow(name, round(total / answers, 2) if shown else None, most if shown else None)
        )
    return rows


async def prepare_statistics() -> None:
    """Import SciPy's special functions (Welch's test) before the process's first report opens
    its session: off the event loop, and not while holding SQLite's write lock, which every
    transaction takes (``lazy.preload``)."""
    await lazy.preload("scipy.special")


async def team_trend(
    session: AsyncSession,
    team_id: int,
    has_children: bool,
    weeks: int,
    today: date,
    thresholds: Thresholds,
    comment_sample: int = SAMPLE,
) -> TrendSummary:
    """``team_id``'s report; ``has_children``: it has teams below it today (for the line per
    child team; comments follow each week's hierarchy as cut).
    At most ``comment_sample`` of its published comments, picked at random, are in it, with how
    many there are in all."""
    period_start = week_of(today) - timedelta(weeks=weeks - 1)
    previous_start = period_start - timedelta(weeks=weeks)
    rows = await team_rows(session, team_id, previous_start)
    cells = [c for c in rows.cells if c.published]
    in_period = [c for c in cells if c.week >= period_start]
    rounds = [w for w in rows.weeks if w.week >= period_start]
    summary = TrendSummary(
        weeks=weeks,
        themes=_theme_rows(cells, period_start),
        rounds=[_round_row(w) for w in rounds],
        series=_series(cells),
        previous_start=previous_start,
        period_start=period_start,
        advocacy=_advocacy(cells, period_start),
        children=await _children(session, team_id, period_start) if has_children else [],
    )
    k = thresholds.min_group
    if not in_period:
        summary.notes.append(
            f"Not enough answers yet: results show once at least {k} people have answered a "
            "closed pulse (and no smaller group could be worked out from them)."
        )
    comment_weeks = {w.week for w in rounds if w.comments_published}
    counted = published_counts(rows, comment_weeks)
    found = await sample_comments(session, team_id, counted, comment_sample)
    summary.comments, summary.comment_total, summary.mood = found.shown, found.total, found.mood
    if found.total > len(found.shown):
        summary.notes.append(sample_note(len(found.shown), found.total))
    if not summary.comments:
        summary.notes.append(
            f"Comments are shown only where at least {thresholds.min_comment_group} people "
            "answered in a week: a comment on a statement, for its theme; a general one, for the "
            "week."
        )
    return summary
