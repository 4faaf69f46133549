"""Cut the published aggregates of a week (``rollup_cell`` and ``rollup_week``), once.

A round counts in the week it opened.  A week is cut when it is over (today is on or after its
Sunday's next day) and every round counted in it has closed: its aggregates are computed once, over
the whole organisation, the disclosure rules applied to them there, and every round counted is
stamped (``pulse_round.counted_in``).  A cut week is never cut again, whatever happens later (a late
round, a re-import that moves teams): a figure shown and then changed would let anyone subtract the
two readings.  Because no round can open in a week that is over, no round can join a cut week.

Respondents are people, not cards: within one team and week they are the largest single round's
respondents (one card per person per round), a lower bound on the distinct people however many
rounds the team ran.  A round's respondents are its cards less its ``unsure`` count (answers that
may repeat someone's after a process stopped or lost its claims: ``surveys/participation.py``), so
a repeated answer never counts as one more person.  While a week's rounds have ``unsure`` answers
it waits until the day after its last round closed, for live processes to give theirs back.
Reports then read a handful of rows for one team instead of scanning answers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Insert,
    Integer,
    Result,
    Select,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Delivery,
    Participation,
    PulseRound,
    Question,
    Response,
    RollupCell,
    RollupCut,
    RollupWeek,
    Team,
)
from surveys.anonymity import Thresholds
from surveys.disclosure import Hierarchy, publishable


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def _run(session: AsyncSession, query: Select[Any]) -> Result[Any]:
    connection = await session.connection()
    return await connection.execute(query)


def adjusted_score() -> Any:
    """The score with negatively worded statements reversed (6 - score)."""
    return case((col(Question.reverse), 6 - col(Response.score)), else_=col(Response.score))


async def hierarchy(session: AsyncSession) -> Hierarchy:
    rows = (await _run(session, select(col(Team.id), col(Team.parent_id)))).all()
    return Hierarchy({team: parent for team, parent in rows})


def counted_week() -> Any:
    """The day a round's results count from: its report week, else the day it opened."""
    return func.coalesce(col(PulseRound.report_week), col(PulseRound.opened_on))


def _in_week(week: date, *, closed: bool = True) -> Any:
    return (
        col(PulseRound.closed).is_(closed),
        counted_week() >= week,
        counted_week() < week + timedelta(days=7),
    )


async def _is_cut(session: AsyncSession, week: date) -> bool:
    query = select(func.count()).select_from(RollupCut).where(col(RollupCut.week) == week)
    return int((await _run(session, query)).scalar_one()) > 0


async def _all_closed(session: AsyncSession, week: date) -> bool:
    still_open = select(func.count(col(PulseRound.id))).where(*_in_week(week, closed=False))
    return int((await _run(session, still_open)).scalar_one()) == 0


async def _settled(session: AsyncSession, week: date, today: date | None) -> bool:
    """Whether the week's reservations are settled enough to cut: none left, or ``today`` is
    after the week's last close (what remains then is a real loss, and is subtracted)."""
    if today is None:
        return True
    query = (
        select(func.max(col(PulseRound.closes_on)), func.max(col(Participation.unsure)))
        .join(Participation, col(Participation.round_id) == col(PulseRound.id))
        .where(*_in_week(week))
    )
    last_close, unsure = (await _run(session, query)).one()
    return not unsure or last_close is None or today > last_close


async def _unsure(session: AsyncSession, week: date) -> dict[int, int]:
    """round -> answers of it that may repeat someone's (``Participation.unsure``)."""
    query = select(col(Participation.round_id), col(Participation.unsure)).where(
        col(Participation.round_id).in_(_week_rounds(week)), col(Participation.unsure) > 0
    )
    return {round_id: int(n) for round_id, n in (await _run(session, query)).all()}


def _people(cards: Any, unsure: int) -> int:
    """A round's people: its cards less those that may repeat someone's, never below 0."""
    return max(0, int(cards or 0) - unsure)


async def report_week_for(session: AsyncSession, today: date) -> date:
    """The week a round opened today counts in: this week.  This week can't be cut yet (a week is
    cut only once it is over); should it be anyway (replicas whose clocks disagree), the first
    uncut week after it.  On PostgreSQL the week is share-locked until the caller commits, so a
    cut of it (which takes the lock exclusively) waits for the round and then sees it open."""
    week = week_of(today)
    while True:
        await _lock_week(session, week, shared=True)
        if not await _is_cut(session, week):
            return week
        week += timedelta(days=7)


def _week_rounds(week: date) -> Select[Any]:
    """The ids of the week's closed rounds.  Answers are found from these through
    ``ix_response_round_question``, so a week's rebuild reads that week's answers, not the table."""
    return select(col(PulseRound.id)).where(*_in_week(week))


ADVOCACY = "advocacy"


@dataclass(frozen=True, slots=True)
class Stats:
    """A cell's figures: its people, then its answers' count and sums (scores reverse-scored)."""

    respondents: int
    answers: int
    total: float
    squares: float
    favourable: int
    unfavourable: int

    def __add__(self, other: Stats) -> Stats:
        """Two disjoint sets of answers (a parent's subtree: its own and a child's)."""
        return Stats(
            self.respondents + other.respondents,
            self.answers + other.answers,
            self.total + other.total,
            self.squares + other.squares,
            self.favourable + other.favourable,
            self.unfavourable + other.unfavourable,
        )


def _people_and_sums(per_round: list[Stats]) -> Stats:
    """One team's stats over its rounds of the week: respondents are the largest single round's
    (a person answers a round once, so that many distinct people at least; the same people
    answering two rounds must not count twice), the answers' sums are over every round."""
    summed = sum(per_round[1:], start=per_round[0])
    return replace(summed, respondents=max(stats.respondents for stats in per_round))


async def _own_cells(session: AsyncSession, week: date) -> dict[str, dict[int, Stats]]:
    """theme -> team -> stats of the team's own rounds; the advocacy items also count under
    ``advocacy`` (for an eNPS-style score)."""
    rounds: dict[tuple[str, int], list[Stats]] = defaultdict(list)
    unsure = await _unsure(session, week)
    for advocacy in (False, True):
        query = _cells_query(week, advocacy)
        for row in (await _run(session, query)).all():
            team, theme, round_id, cards, answers, total, squares, good, bad = row
            rounds[theme, team].append(
                Stats(
                    respondents=_people(cards, unsure.get(round_id, 0)),
                    answers=int(answers or 0),
                    total=float(total or 0),
                    squares=float(squares or 0),
                    favourable=int(good or 0),
                    unfavourable=int(bad or 0),
                )
            )
    cells: dict[str, dict[int, Stats]] = defaultdict(dict)
    for (theme, team), per_round in rounds.items():
        cells[theme][team] = _people_and_sums(per_round)
    return cells


def _cells_query(week: date, advocacy: bool) -> Select[Any]:
    """Per team, theme and round: distinct cards (people) and the answers' sums."""
    score = adjusted_score()
    theme = literal(ADVOCACY) if advocacy else col(Question.theme)
    query = (
        select(
            col(Response.team_id),
            theme,
            col(Response.round_id),
            func.count(func.distinct(col(Response.submission_id))),
            func.count(),
            func.sum(score),
            func.sum(score * score),
            func.sum(case((score >= 4, 1), else_=0).cast(Integer)),
            func.sum(case((score <= 2, 1), else_=0).cast(Integer)),
        )
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(col(Response.round_id).in_(_week_rounds(week)))
    )
    if advocacy:
        # As an IN on the answer's question (not a filter on the joined question), so only the
        # advocacy answers are read, through ix_response_round_question (round_id, question_id).
        advocacy_ids = select(col(Question.id)).where(col(Question.advocacy))
        return query.where(col(Response.question_id).in_(advocacy_ids)).group_by(
            col(Response.team_id), col(Response.round_id)
        )
    return query.group_by(col(Response.team_id), col(Question.theme), col(Response.round_id))


async def _own_participation(session: AsyncSession, week: date) -> dict[int, tuple[int, int]]:
    """team -> (people invited to any of its rounds of the week, the largest round's
    respondents).  Respondents are counted from the answers' cards (one per person and round),
    never from the participation record."""
    invited_q = (
        select(col(PulseRound.team_id), func.count(func.distinct(col(Delivery.person_id))))
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .where(col(PulseRound.id).in_(_week_rounds(week)))
        .group_by(col(PulseRound.team_id))
    )
    # cards counted from the answers themselves: who answered is written late, in batches
    # (surveys/participation.py), so Participation.respondents is not a count to rely on
    answered_q = (
        select(
            col(Response.team_id),
            col(Response.round_id),
            func.count(func.distinct(col(Response.submission_id))),
        )
        .where(col(Response.round_id).in_(_week_rounds(week)))
        .group_by(col(Response.team_id), col(Response.round_id))
    )
    invited: dict[int, int] = {t: n for t, n in (await _run(session, invited_q)).all()}
    unsure = await _unsure(session, week)
    answered: dict[int, int] = defaultdict(int)
    for team, round_id, cards in (await _run(session, answered_q)).all():
        answered[team] = max(answered[team], _people(cards, unsure.get(round_id, 0)))
    return {team: (int(invited.get(team, 0)), answered.get(team, 0)) for team in invited}


def _subtree_sums(tree: Hierarchy, own: dict[int, Stats]) -> dict[int, Stats]:
    """Each team's subtree sums, for the teams with answers in their subtree (the others' are
    all zero and left out)."""
    sums = {team: stats for team, stats in own.items() if team in tree.parents}
    for team in tree.post_order:
        stats, parent = sums.get(team), tree.parents[team]
        if stats is None or parent is None or parent not in tree.parents:
            continue
        above = sums.get(parent)
        sums[parent] = stats if above is None else above + stats
    return sums


async def _lock_week(session: AsyncSession, week: date, *, shared: bool = False) -> None:
    """Cutting a week (exclusive) excludes other cuts of it and rounds being opened into it
    (shared), across replicas, until the transaction ends.  SQLite already serialises writers
    (every transaction begins IMMEDIATE)."""
    if session.bind.dialect.name == "postgresql":
        lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await session.exec(text(f"SELECT {lock}(:key)").bindparams(key=week.toordinal()))  # type: ignore[call-overload]


async def _insert(session: AsyncSession, statement: Insert, rows: list[dict[str, Any]]) -> None:
    """One executemany of plain rows (thousands per week: ORM objects would cost seconds)."""
    if rows:
        connection = await session.connection()
        await connection.execute(statement, rows)


def _cell_rows(
    tree: Hierarchy,
    week: date,
    own_cells: dict[str, dict[int, Stats]],
    thresholds: Thresholds,
) -> list[dict[str, Any]]:
    """Each (team subtree, theme) cell; its comments are published on their own test: rounds
    rotate statements, so a theme's comments may come from fewer people than the week's."""
    cells: list[dict[str, Any]] = []
    for theme, own in own_cells.items():
        own_people = {t: s.respondents for t, s in own.items()}
        published, _ = publishable(tree, own_people, thresholds.min_group)
        comments, _ = publishable(tree, own_people, thresholds.min_comment_group)
        cells.extend(
            {
                "team_id": team,
                "week": week,
                "theme": theme,
                "respondents": stats.respondents,
                "answers": stats.answers,
                "total": stats.total,
                "squares": stats.squares,
                "favourable": stats.favourable,
                "unfavourable": stats.unfavourable,
                "published": team in published,
                "comments_published": team in comments,
            }
            for team, stats in _subtree_sums(tree, own).items()
            if stats.respondents > 0
        )
    return cells


def _week_rows(
    tree: Hierarchy, week: date, participation: dict[int, tuple[int, int]], thresholds: Thresholds
) -> list[dict[str, Any]]:
    """Participation per team subtree, with each team's parent as cut: a report's comments
    follow the hierarchy the week's figures were cut with, not today's."""
    answered_own = {team: pair[1] for team, pair in participation.items()}
    shown, answered = publishable(tree, answered_own, thresholds.min_group)
    comments, _ = publishable(tree, answered_own, thresholds.min_comment_group)
    invited = tree.totals({team: pair[0] for team, pair in participation.items()})
    return [
        {
            "team_id": team,
            "week": week,
            "parent_id": tree.parents[team],
            "invited": invited[team],
            "respondents": count,
            "published": team in shown,
            "comments_published": team in comments,
        }
        for team, count in answered.items()
        if invited[team] > 0
    ]


async def rebuild_week(
    session: AsyncSession, week: date, thresholds: Thresholds, today: date | None = None
) -> bool:
    """Cut one week's published aggregates for every team (the caller commits), if every round
    counted in it has closed, it is not cut already and (given ``today``) its reservations are
    settled (``_settled``); returns whether it was cut.

    Call it for weeks that are over only (``cut_due_weeks``): a round opened later in the week
    would otherwise count in a week already cut and never be shown.
    """
    week = week_of(week)
    await session.flush()  # the closing round must be seen closed by the Core queries below
    await _lock_week(session, week)
    if await _is_cut(session, week) or not await _all_closed(session, week):
        return False
    if not await _settled(session, week, today):
        return False
    tree = await hierarchy(session)
    await session.exec(delete(RollupCell).where(col(RollupCell.week) == week))
    await session.exec(delete(RollupWeek).where(col(RollupWeek.week) == week))
    cells = _cell_rows(tree, week, await _own_cells(session, week), thresholds)
    await _insert(session, insert(RollupCell), cells)
    participation = await _own_participation(session, week)
    await _insert(session, insert(RollupWeek), _week_rows(tree, week, participation, thresholds))
    stamp = update(PulseRound).where(col(PulseRound.id).in_(_week_rounds(week)))
    await (await session.connection()).execute(stamp.values(counted_in=week))
    session.add(RollupCut(week=week))
    await session.flush()
    return True


async def rebuild_weeks(session: AsyncSession, weeks: set[date], thresholds: Thresholds) -> None:
    for week in sorted({week_of(w) for w in weeks}):
        await rebuild_week(session, week, thresholds)


async def cut_due_weeks(session: AsyncSession, today: date, thresholds: Thresholds) -> list[date]:
    """Cut every week that is over (before ``today``'s week) whose rounds have all closed and that
    is not cut yet; returns the weeks cut.  Runs when rounds close, on the scheduler's tick and at
    start-up (the caller commits)."""
    await session.flush()
    query = (
        select(counted_week())
        .where(col(PulseRound.counted_in).is_(None), counted_week() < week_of(today))
        .distinct()
    )
    cut = select(col(RollupCut.week)).where(col(RollupCut.week) < week_of(today))
    done = {week for (week,) in (await _run(session, cut)).all()}
    # closed rounds of a cut week may stay unstamped for ever (ones migration 0005 could not
    # prove were counted): their weeks are skipped here, not re-tried on every tick
    weeks = sorted({week_of(day) for (day,) in (await _run(session, query)).all()} - done)
    return [week for week in weeks if await rebuild_week(session, week, thresholds, today)]
