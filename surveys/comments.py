"""A report's comments: a bounded random sample of the published ones, drawn in SQL, with how
many there are in all and their mood.

Which comments are published is decided exactly as before (docs/anonymity.md): only from the
reported team's published comment weeks, only from rounds that week's cut counted, only from teams
below it as that week was cut, and a comment on a statement only where its (week, theme) cell
publishes comments.  The cells and weeks that publish comments are chosen once, by
``published_counts``, from the team's rollup rows (``surveys/report_rows.py``: read with the
report's figures, in one statement); the rest is in the walk's SQL.  So the count, the mood and
the sample all range over the published comments and nothing else: the sample can only hold
comments that showing them all would have shown.

How many there are and their mood are read from the rollups, counted at the week's cut by those
same rules (``surveys/comment_counts.py``): one row per (week, theme) cell and per week, not
every answer of the scope's comment weeks.  The sample is stratified and still exactly uniform:
``min(limit, total)`` distinct ranks are drawn in ``[0, total)``, each rank falls in one bucket
(a week's theme, or a week's general comments) by the stored counts, and each bucket that got
``m`` ranks gives ``m`` distinct uniform ranks within it, each walked down to its comment through
the counts of the teams below as that week was cut (``surveys/comment_picks.py``).  A uniform
set of ranks shared out by bucket sizes, then a uniform pick within each, is a uniform pick of
the whole; and the walk only ever reaches rounds the week counted in teams below the reported
one as cut, so the sample can only hold comments that showing them all would have shown.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.bank import load_bank
from surveys.comment_picks import pick
from surveys.report_rows import TeamRows, team_rows

GENERAL = "General"  # the label of comments tied to no statement
SAMPLE = 10  # comments a report shows: as many as Slack's and Teams' reports lay out


@dataclass
class Comments:
    """``shown``: (theme or "General", words), in random order; ``total``: every published
    comment of the scope, of which ``shown`` is a uniform sample; ``mood``: their mean polarity
    (None when none has one)."""

    shown: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0
    mood: float | None = None


@dataclass(frozen=True)
class _Bucket:
    """A week's comments on one theme (None: its general comments), as counted at the cut."""

    week: date
    theme: str | None
    count: int


# (week, theme or None for the general comments, comments, with a mood, sum of moods)
Counted = tuple[date, str | None, int, int, float]


def published_counts(rows: TeamRows, weeks: set[date]) -> list[Counted]:
    """The comment counts of the team's published comment cells and weeks among ``weeks``: a
    cell's where it publishes comments, a week's general ones where the week publishes them."""
    cells = [
        (c.week, c.theme, c.comments, c.moods, c.mood_total)
        for c in rows.cells
        if c.comments_published and c.week in weeks
    ]
    general: list[Counted] = [
        (w.week, None, w.comments, w.moods, w.mood_total)
        for w in rows.weeks
        if w.comments_published and w.week in weeks
    ]
    return cells + general


def allocate(counts: list[int], draws: int) -> list[int]:
    """How many of ``draws`` distinct uniform ranks in ``[0, sum(counts))`` fall in each bucket
    (buckets laid end to end in the order given)."""
    total = sum(counts)
    bounds = list(accumulate(counts))
    taken = [0] * len(counts)
    for rank in random.SystemRandom().sample(range(total), min(draws, total)):
        taken[bisect_right(bounds, rank)] += 1
    return taken


async def published_comments(
    session: AsyncSession, team_id: int, weeks: set[date], limit: int = SAMPLE
) -> Comments:
    """A uniform random sample of at most ``limit`` of the team's published comments from its
    published comment ``weeks``, with their total and mood (over all of them, not the sample)."""
    if not weeks:
        return Comments()
    rows = await team_rows(session, team_id, min(weeks))
    return await sample_comments(session, team_id, published_counts(rows, weeks), limit)


async def sample_comments(
    session: AsyncSession, team_id: int, rows: list[Counted], limit: int = SAMPLE
) -> Comments:
    """``published_comments`` from the team's counts already read (``published_counts``)."""
    buckets = sorted(
        (_Bucket(week, theme, int(count)) for week, theme, count, _, _ in rows if count > 0),
        key=lambda b: (b.week, b.theme or ""),
    )
    total = sum(bucket.count for bucket in buckets)
    if not total:
        return Comments()
    scored = sum(int(moods) for _, _, _, moods, _ in rows)
    moods = sum(float(mood_total or 0.0) for *_, mood_total in rows)
    draw = random.SystemRandom()
    wanted = [
        (bucket.week, bucket.theme, bucket.count, draw.sample(range(bucket.count), size))
        for bucket, size in zip(buckets, allocate([b.count for b in buckets], limit), strict=True)
        if size
    ]
    bank = load_bank()
    shown = [
        (GENERAL if theme is None else bank.theme_name(theme), words)
        for theme, words in await pick(session, team_id, wanted)
    ]
    random.SystemRandom().shuffle(shown)  # buckets were read in order: mix them
    return Comments(shown, total, moods / scored if scored else None)
