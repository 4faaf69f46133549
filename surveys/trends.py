"""Trend summaries: theme scores over time, aggregated in SQL, shown only for big-enough groups."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from scipy.stats import ttest_ind_from_stats
from sqlalchemy import Integer, Result, Select, case, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Delivery, Participation, PulseRound, Question, Response
from surveys.anonymity import Thresholds
from surveys.bank import load_bank

SIGNIFICANCE = 0.05
FOOTNOTE = (
    "Scores: mean of 1 (strongly disagree) to 5 (strongly agree), negatively worded statements "
    "reversed; favourable = agree or strongly agree. A change is marked real (▲/▼) only when "
    "Welch's t-test finds it significant at the 95% confidence level (p < 0.05) against the "
    "previous period of the same length. Results appear only for closed pulses with at least "
    "{k} respondents."
)


@dataclass(frozen=True)
class ThemeRow:
    theme: str
    mean: float | None
    favourable: float | None
    change: float | None
    significant: bool
    respondents: int


@dataclass(frozen=True)
class RoundRow:
    label: str
    week: date
    invited: int | None
    respondents: int | None
    rate: float | None


@dataclass
class _Stats:
    answers: int = 0
    total: float = 0.0
    squares: float = 0.0
    favourable: int = 0
    respondents: int = 0

    def add(self, other: _Stats) -> None:
        self.answers += other.answers
        self.total += other.total
        self.squares += other.squares
        self.favourable += other.favourable
        self.respondents += other.respondents

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
    comments: list[tuple[str, str]] = field(default_factory=list)
    mood: float | None = None
    comment_count: int = 0
    notes: list[str] = field(default_factory=list)


async def _run(session: AsyncSession, query: Select[Any]) -> Result[Any]:
    """Multi-column aggregates run on the session's connection (plain SQLAlchemy rows)."""
    connection = await session.connection()
    return await connection.execute(query)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def _theme_stats(
    session: AsyncSession, team_ids: list[int], since: date
) -> dict[tuple[date, str], _Stats]:
    adjusted = case((col(Question.reverse), 6 - col(Response.score)), else_=col(Response.score))
    query = (
        select(
            col(PulseRound.opened_on),
            col(Question.theme),
            func.count(),
            func.sum(adjusted),
            func.sum(adjusted * adjusted),
            func.sum(case((adjusted >= 4, 1), else_=0).cast(Integer)),
            func.count(func.distinct(col(Response.submission_id))),
        )
        .join(Question, col(Question.id) == col(Response.question_id))
        .join(PulseRound, col(PulseRound.id) == col(Response.round_id))
        .where(
            col(Response.team_id).in_(team_ids),
            col(Response.day) >= since,
            col(PulseRound.closed).is_(True),
            col(PulseRound.opened_on) >= since,
        )
        .group_by(col(PulseRound.opened_on), col(Question.theme))
    )
    cells: dict[tuple[date, str], _Stats] = {}
    for opened_on, theme, answers, total, squares, fav, respondents in (
        await _run(session, query)
    ).all():
        cell = cells.setdefault((week_of(opened_on), theme), _Stats())
        cell.add(_Stats(answers, float(total), float(squares), int(fav), int(respondents)))
    return cells


async def _participation(
    session: AsyncSession, team_ids: list[int], since: date
) -> dict[date, tuple[int, int]]:
    invited_q = (
        select(col(PulseRound.opened_on), func.count(col(Delivery.id)))
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .where(
            col(PulseRound.team_id).in_(team_ids),
            col(PulseRound.closed).is_(True),
            col(PulseRound.opened_on) >= since,
        )
        .group_by(col(PulseRound.opened_on))
    )
    answered_q = (
        select(col(PulseRound.opened_on), func.sum(col(Participation.respondents)))
        .join(Participation, col(Participation.round_id) == col(PulseRound.id))
        .where(
            col(PulseRound.team_id).in_(team_ids),
            col(PulseRound.closed).is_(True),
            col(PulseRound.opened_on) >= since,
        )
        .group_by(col(PulseRound.opened_on))
    )
    weeks: dict[date, list[int]] = {}
    for opened_on, invited in (await _run(session, invited_q)).all():
        weeks.setdefault(week_of(opened_on), [0, 0])[0] += int(invited)
    for opened_on, answered in (await _run(session, answered_q)).all():
        weeks.setdefault(week_of(opened_on), [0, 0])[1] += int(answered or 0)
    return {week: (pair[0], pair[1]) for week, pair in weeks.items()}


async def _comments(
    session: AsyncSession, team_ids: list[int], since: date, weeks: set[date]
) -> tuple[list[tuple[str, str]], float | None]:
    """Comments (shuffled, undated) from the given weeks only: those with enough respondents."""
    query = (
        select(
            col(PulseRound.opened_on),
            col(Question.theme),
            col(Response.comment),
            col(Response.sentiment),
        )
        .join(Question, col(Question.id) == col(Response.question_id))
        .join(PulseRound, col(PulseRound.id) == col(Response.round_id))
        .where(
            col(Response.team_id).in_(team_ids),
            col(Response.day) >= since,
            col(Response.comment).is_not(None),
            col(PulseRound.closed).is_(True),
        )
    )
    rows = [row for row in (await _run(session, query)).all() if week_of(row[0]) in weeks]
    bank = load_bank()
    comments = [(bank.theme_name(theme), comment or "") for _, theme, comment, _ in rows]
    random.SystemRandom().shuffle(comments)
    moods = [s for _, _, _, s in rows if s is not None]
    return comments, (sum(moods) / len(moods) if moods else None)


def _theme_rows(
    cells: dict[tuple[date, str], _Stats], period_start: date, k: int
) -> list[ThemeRow]:
    bank = load_bank()
    current: dict[str, _Stats] = {}
    previous: dict[str, _Stats] = {}
    for (week, theme_id), stats in cells.items():
        if stats.respondents < k:
            continue  # a small week never enters a total, so no total is built from fewer than k
        bucket = current if week >= period_start else previous
        bucket.setdefault(theme_id, _Stats()).add(stats)
    rows = []
    for theme in bank.themes:
        now = current.get(theme.id)
        if now is None or now.respondents < k:
            continue
        before = previous.get(theme.id)
        change, significant = None, False
        if before is not None and before.respondents >= k:
            change = now.mean - before.mean
            if now.answers > 1 and before.answers > 1 and (now.std > 0 or before.std > 0):
                test = ttest_ind_from_stats(
                    now.mean,
                    now.std,
                    now.answers,
                    before.mean,
                    before.std,
                    before.answers,
                    equal_var=False,
                )
                significant = bool(test.pvalue < SIGNIFICANCE)
        rows.append(
            ThemeRow(
                theme.name,
                round(now.mean, 2),
                round(100 * now.favourable / now.answers),
                None if change is None else round(change, 2),
                significant,
                now.respondents,
            )
        )
    return rows


def _series(cells: dict[tuple[date, str], _Stats], k: int) -> dict[str, list[tuple[date, float]]]:
    bank = load_bank()
    series: dict[str, list[tuple[date, float]]] = {}
    for (week, theme_id), stats in sorted(cells.items()):
        if stats.respondents >= k:
            series.setdefault(bank.theme_name(theme_id), []).append((week, round(stats.mean, 2)))
    return series


async def team_trend(
    session: AsyncSession, team_ids: list[int], weeks: int, today: date, thresholds: Thresholds
) -> TrendSummary:
    k = thresholds.min_group
    period_start = week_of(today) - timedelta(weeks=weeks - 1)
    previous_start = period_start - timedelta(weeks=weeks)
    cells = await _theme_stats(session, team_ids, previous_start)
    participation = await _participation(session, team_ids, period_start)
    rounds = []
    for week, (invited, answered) in sorted(participation.items()):
        shown = thresholds.scores_visible(answered)
        rounds.append(
            RoundRow(
                label=f"w/c {week:%d %b}",
                week=week,
                invited=invited if shown else None,
                respondents=answered if shown else None,
                rate=round(100 * answered / invited) if shown and invited else None,
            )
        )
    in_period = {key: s for key, s in cells.items() if key[0] >= period_start}
    comment_weeks = {
        week
        for week, (_, answered) in participation.items()
        if thresholds.comments_visible(answered)
    }
    summary = TrendSummary(
        weeks=weeks,
        themes=_theme_rows(cells, period_start, k),
        rounds=rounds,
        series=_series(cells, k),
        previous_start=previous_start,
        period_start=period_start,
    )
    if not in_period or all(s.respondents < k for s in in_period.values()):
        summary.notes.append(f"Not enough answers yet: results show once {k} people have answered.")
    if comment_weeks:
        comments, mood = await _comments(session, team_ids, period_start, comment_weeks)
        summary.comments.extend(comments)
        summary.mood = mood
        summary.comment_count = len(comments)
    else:
        summary.notes.append(
            f"Comments are shown only for pulses with at least {thresholds.min_comment_group} "
            "respondents."
        )
    return summary
