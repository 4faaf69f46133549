"""A report's kudos counts by value: kept per (team subtree, week, value) at each week's cut, and
counted live for the days not cut yet.

**Received** counts the distinct kudos with a recipient in the team's subtree (a kudos thanking
two wards of one directorate counts once for the directorate, once for each ward); **given**
counts the kudos whose giver's team is in it.  Each kudos carries its people's teams as they were
when it was given (``recognition.team_id``, ``recognition_recipient.team_id``).

* **Cut weeks** (``rollup_cut``): ``week_rows`` counts the week's kudos at its cut, up the tree
  as cut (the same tree the week's figures were cut with), into ``rollup_kudos``.  A report reads
  its team's rows of the period's cut weeks: a dozen rows per value for a trust, where counting
  its period's kudos one by one read about 9,500 of them (and their recipients) twice.
* **Weeks not cut** (this week, and any week still waiting for a round to close, or with no
  round at all): counted live from ``recognition``, with today's tree, so a kudos counts at once.

A team moved between two cuts keeps its kudos of the weeks cut before the move under its old
parent, as its scores do (a re-organisation does not rewrite what was shown).  Kudos are never
deleted (retention prunes comments; forgetting a person keeps their kudos and may blank the
words), so the kept counts need no pruning.  Migration 0015 counted the weeks cut before it with
today's tree: the numbers a report showed before the upgrade.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import on_postgresql
from storage.models import Recognition, RecognitionRecipient, RollupCut, RollupKudos
from surveys.comment_counts import above_as_cut
from surveys.directory import subtree_query
from surveys.disclosure import Hierarchy

Counts = list[tuple[str, int]]


@dataclass(frozen=True)
class KudosCounts:
    """Kudos received and given by a team's subtree since a day, per value (by value's name)."""

    received: Counts
    given: Counts


# The report's statements are built once (``@cache``, their values bound): building one and
# finding its compiled form in SQLAlchemy's cache took longer than running it.
_TEAM = bindparam("team_id", type_=Integer)
_SINCE = bindparam("since", type_=Date)


async def _rows(
    session: AsyncSession, query: Any, values: dict[str, Any] | None = None
) -> list[Any]:
    connection = await session.connection()
    return list((await connection.execute(query, values)).all())


async def week_rows(session: AsyncSession, week: date, tree: Hierarchy) -> list[dict[str, Any]]:
    """The week's ``rollup_kudos`` rows: its kudos counted for each team above their people's
    teams in ``tree`` (the hierarchy being cut with)."""
    query = (
        select(
            col(Recognition.id),
            col(Recognition.value),
            col(Recognition.team_id),
            col(RecognitionRecipient.team_id),
        )
        .outerjoin(
            RecognitionRecipient, col(RecognitionRecipient.recognition_id) == col(Recognition.id)
        )
        .where(
            col(Recognition.created_on) >= week,
            col(Recognition.created_on) < week + timedelta(days=7),
        )
    )
    givers: dict[int, tuple[str, int | None]] = {}
    recipients: dict[int, set[int]] = defaultdict(set)
    for kudos, value, giver_team, recipient_team in await _rows(session, query):
        givers[kudos] = (value, giver_team)
        if recipient_team is not None:
            recipients[kudos].add(recipient_team)
    counted: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for kudos, (value, giver_team) in givers.items():
        for team in _above(tree, recipients.get(kudos, ())):
            counted[team, value][0] += 1
        for team in _above(tree, () if giver_team is None else (giver_team,)):
            counted[team, value][1] += 1
    return [
        {"team_id": team, "week": week, "value": value, "received": got, "given": gave}
        for (team, value), (got, gave) in counted.items()
    ]


def _above(tree: Hierarchy, teams: Iterable[int]) -> set[int]:
    """Every team in ``tree`` at or above one of ``teams`` (each once)."""
    return {above for team in teams for above in above_as_cut(team, tree.parents)}


async def counts_since(
    session: AsyncSession, team_id: int, since: date, today: date
) -> KudosCounts:
    """``team_id``'s subtree's kudos from ``since`` (a Monday) on: the kept counts of the weeks
    cut, and the days of the weeks not cut counted live."""
    cut: set[date] = set()
    received: dict[str, int] = defaultdict(int)
    given: dict[str, int] = defaultdict(int)
    kept = await _rows(session, _cut_and_kept(), {"team_id": team_id, "since": since})
    for week, value, got, gave in kept:
        if week is not None:
            cut.add(week)
        else:
            received[value] += int(got)
            given[value] += int(gave)
    runs = _not_cut(since, today, cut)
    if runs:
        for is_given, value, count in await _live(session, team_id, runs):
            (given if is_given else received)[value] += count
    return KudosCounts(_by_value(received), _by_value(given))


@cache
def _cut_and_kept() -> Any:
    """The weeks cut from ``since`` on (``week, NULL, 0, 0``) and the team's counts kept for
    them (``NULL, value, received, given``), in one statement: the cut weeks say which days
    are counted live."""
    zero: Any = literal_column("0")
    weeks = select(col(RollupCut.week), null(), zero, zero).where(col(RollupCut.week) >= _SINCE)
    kept = (
        select(
            null(),
            col(RollupKudos.value),
            func.sum(col(RollupKudos.received)),
            func.sum(col(RollupKudos.given)),
        )
        .where(col(RollupKudos.team_id) == _TEAM, col(RollupKudos.week) >= _SINCE)
        .group_by(col(RollupKudos.value))
    )
    return union_all(weeks, kept)


Runs = list[tuple[date, date | None]]  # [start, end) of days; an open-ended last run: None


def _not_cut(since: date, today: date, cut: set[date]) -> Runs:
    """The runs of days from ``since`` on in weeks not cut (the last such run open-ended),
    none when every week up to today's is cut."""
    runs: Runs = []
    week, last = since, today - timedelta(days=today.weekday())
    while week <= last:
        if week not in cut:
            if runs and runs[-1][1] == week:
                runs[-1] = (runs[-1][0], week + timedelta(days=7))
            else:
                runs.append((week, week + timedelta(days=7)))
        week += timedelta(days=7)
    if runs and runs[-1][1] == last + timedelta(days=7) and not any(week > last for week in cut):
        runs[-1] = (runs[-1][0], None)  # (nothing is dated after today, but nothing is missed)
    return runs


async def _live(session: AsyncSession, team_id: int, runs: Runs) -> list[tuple[bool, str, int]]:
    """The kudos of the days in ``runs`` received and given in ``team_id``'s subtree today, as
    (given?, value, count), in one statement (``_live_query``)."""
    shape = tuple(end is not None for _, end in runs)
    values: dict[str, Any] = {"team_id": team_id}
    for n, (start, end) in enumerate(runs):
        values[f"start_{n}"], values[f"end_{n}"] = start, end
    query = _live_query(shape, on_postgresql(session))
    rows = await _rows(session, query, {k: v for k, v in values.items() if v is not None})
    return [(bool(is_given), name, int(count)) for is_given, name, count in rows]


@cache
def _live_query(shape: tuple[bool, ...], postgresql: bool) -> Any:
    """The live count's statement for runs of days shaped so (``True``: the run has an end):
    the subtree walked once, each side from the days' kudos (``ix_recognition_created_on``).
    Received: SQLite checks each kudos's recipients (``EXISTS``; joined, it reached a trust's
    kudos from its recipients, every kudos ever received there: 54 ms for one week's 779);
    PostgreSQL joins them (its ``EXISTS`` hashed every recipient of the table: 24 ms)."""
    day = col(Recognition.created_on)
    days = or_(
        *(
            and_(
                day >= bindparam(f"start_{n}", type_=Date), day < bindparam(f"end_{n}", type_=Date)
            )
            if ended
            else day >= bindparam(f"start_{n}", type_=Date)
            for n, ended in enumerate(shape)
        )
    )
    teams = subtree_query(_TEAM)
    value = col(Recognition.value)
    given = (
        select(literal(True), value, func.count(col(Recognition.id)))
        .where(days, col(Recognition.team_id).in_(teams))
        .group_by(value)
    )
    if postgresql:
        received = (
            select(literal(False), value, func.count(func.distinct(col(Recognition.id))))
            .join(
                RecognitionRecipient,
                col(RecognitionRecipient.recognition_id) == col(Recognition.id),
            )
            .where(days, col(RecognitionRecipient.team_id).in_(teams))
        )
    else:
        recipient_below = exists().where(
            col(RecognitionRecipient.recognition_id) == col(Recognition.id),
            col(RecognitionRecipient.team_id).in_(teams),
        )
        received = select(literal(False), value, func.count(col(Recognition.id))).where(
            days, recipient_below
        )
    return union_all(given, received.group_by(value))


def _by_value(counts: dict[str, int]) -> Counts:
    return sorted((value, count) for value, count in counts.items() if count)
