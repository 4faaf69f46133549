"""A report's comments: a bounded random sample of the published ones, drawn in SQL, with how
many there are in all and their mood.

Which comments are published is decided exactly as before (docs/anonymity.md): only from the
reported team's published comment weeks, only from rounds that week's cut counted, only from teams
below it as that week was cut, and a comment on a statement only where its (week, theme) cell
publishes comments.  Every one of those conditions is in the SQL ``WHERE``/``JOIN``, so the
count, the mood and the sample all range over the published comments and nothing else: the sample
can only hold comments that showing them all would have shown.

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
from functools import cache
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Date,
    Integer,
    Result,
    Select,
    String,
    bindparam,
    cast,
    null,
    union_all,
)
from sqlalchemy import select as select_columns
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import RollupCell, RollupWeek
from surveys.bank import load_bank
from surveys.comment_picks import pick

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


async def _run(
    session: AsyncSession, query: Any, parameters: dict[str, Any] | None = None
) -> Result[Any]:
    connection = await session.connection()
    return await connection.execute(query, parameters)


@dataclass(frozen=True)
class _Bucket:
    """A week's comments on one theme (None: its general comments), as counted at the cut."""

    week: date
    theme: str | None
    count: int


# A report's statements are built once and run with their values (building and keying a
# statement costs more Python than running it, for a ward)
_TEAM = bindparam("team_id", type_=Integer)
_WEEKS = bindparam("weeks", expanding=True, type_=Date)


@cache
def _buckets_query() -> CompoundSelect[Any]:
    """The team's comment counts in its published comment cells and weeks: (week, theme or NULL,
    comments, with a mood, sum of moods)."""
    cells: Select[Any] = select_columns(
        col(RollupCell.week),
        col(RollupCell.theme),
        col(RollupCell.comments),
        col(RollupCell.moods),
        col(RollupCell.mood_total),
    ).where(
        col(RollupCell.team_id) == _TEAM,
        col(RollupCell.week).in_(_WEEKS),
        col(RollupCell.comments_published).is_(True),
    )
    general: Select[Any] = select_columns(
        col(RollupWeek.week),
        cast(null(), String),
        col(RollupWeek.general_comments),
        col(RollupWeek.general_moods),
        col(RollupWeek.general_mood_total),
    ).where(
        col(RollupWeek.team_id) == _TEAM,
        col(RollupWeek.week).in_(_WEEKS),
        col(RollupWeek.comments_published).is_(True),
    )
    return union_all(cells, general)


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
    found = await _run(session, _buckets_query(), {"team_id": team_id, "weeks": sorted(weeks)})
    rows = found.all()
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
