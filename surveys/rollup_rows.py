"""The rows of one week's cut (``rollup_cell``, ``rollup_week``), computed by reading only, and
the fingerprint of what they were computed from.

``surveys/rollup.py`` decides when a week is cut and writes these rows; computing them (a few
hundred milliseconds at a million answers) needs no lock, so it can run in a read-only session
before the short transaction that writes them (``bot/pulse_rounds.py``).  That transaction checks
the inputs' ``fingerprint`` again: rows computed from inputs that have changed since are not
written.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Result,
    Select,
    case,
    func,
    literal,
    select,
)
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Delivery,
    Participation,
    PulseRound,
    Question,
    Response,
    Team,
)
from surveys.anonymity import Thresholds
from surveys.comment_counts import count_week, own_counts
from surveys.disclosure import Hierarchy, publishable
from surveys.kudos_counts import week_rows as kudos_rows

ADVOCACY = "advocacy"


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def run_query(session: AsyncSession, query: Select[Any]) -> Result[Any]:
    connection = await session.connection()
    return await connection.execute(query)


def adjusted_score() -> Any:
    """The score with negatively worded statements reversed (6 - score)."""
    return case((col(Question.reverse), 6 - col(Response.score)), else_=col(Response.score))


async def hierarchy(session: AsyncSession) -> Hierarchy:
    rows = (await run_query(session, select(col(Team.id), col(Team.parent_id)))).all()
    return Hierarchy({team: parent for team, parent in rows})


def counted_week() -> Any:
    """The day a round's results count from: its report week, else the day it opened."""
    return func.coalesce(col(PulseRound.report_week), col(PulseRound.opened_on))


def in_week(week: date, *, closed: bool = True) -> Any:
    return (
        col(PulseRound.closed).is_(closed),
        counted_week() >= week,
        counted_week() < week + timedelta(days=7),
    )


async def _unsure(session: AsyncSession, week: date) -> dict[int, int]:
    """round -> answers of it that may repeat someone's (``Participation.unsure``)."""
    query = select(col(Participation.round_id), col(Participation.unsure)).where(
        col(Participation.round_id).in_(week_rounds(week)), col(Participation.unsure) > 0
    )
    return {round_id: int(n) for round_id, n in (await run_query(session, query)).all()}


def _people(cards: Any, unsure: int) -> int:
    """A round's people: its cards less those that may repeat someone's, never below 0."""
    return max(0, int(cards or 0) - unsure)


def week_rounds(week: date) -> Select[Any]:
    """The ids of the week's closed rounds.  Answers are found from these through
    ``ix_response_round_question``, so a week's rebuild reads that week's answers, not the table."""
    return select(col(PulseRound.id)).where(*in_week(week))


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
        for row in (await run_query(session, query)).all():
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
        .where(col(Response.round_id).in_(week_rounds(week)))
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
        .where(col(PulseRound.id).in_(week_rounds(week)))
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
        .where(col(Response.round_id).in_(week_rounds(week)))
        .group_by(col(Response.team_id), col(Response.round_id))
    )
    invited: dict[int, int] = {t: n for t, n in (await run_query(session, invited_q)).all()}
    unsure = await _unsure(session, week)
    answered: dict[int, int] = defaultdict(int)
    for team, round_id, cards in (await run_query(session, answered_q)).all():
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


@dataclass(frozen=True)
class WeekRows:
    """A week's cut, computed: its rows, and the fingerprint of the inputs they came from."""

    week: date
    inputs: str
    cells: list[dict[str, Any]]
    weeks: list[dict[str, Any]]
    kudos: list[dict[str, Any]] = field(default_factory=list)


async def compute_week(session: AsyncSession, week: date, thresholds: Thresholds) -> WeekRows:
    """The week's rows, by reading only, with each row's comments counted as a report shows
    them (``surveys/comment_counts.py``) and the week's kudos counted
    (``surveys/kudos_counts.py``).  The fingerprint is read first: on PostgreSQL each statement
    sees the database as of its start, so an input that changes after the fingerprint (while
    these rows are computed) makes the writer's fingerprint differ."""
    inputs = await fingerprint(session, week)
    tree = await hierarchy(session)
    cells = _cell_rows(tree, week, await _own_cells(session, week), thresholds)
    participation = await _own_participation(session, week)
    weeks = _week_rows(tree, week, participation, thresholds)
    count_week(cells, weeks, await own_counts(session, week_rounds(week)))
    return WeekRows(week, inputs, cells, weeks, await kudos_rows(session, week, tree))


async def fingerprint(session: AsyncSession, week: date) -> str:
    """A digest of the inputs of a week's rows that may still change once its rounds have all
    closed: its rounds (a round opened into it; whether each has closed), its rounds' unsure
    answers (given back late by a process: ``surveys/participation.py``), the team hierarchy
    (an import) and the questions' themes and scoring.  Answers and invitations are not in it:
    a round gets them only while open (the cut's ``due`` checks every round closed), and rows
    deleted after the rows were computed are no different from rows deleted after the cut.
    Kudos are not in it either: they are dated by the organisation's day, so none joins a week
    that is over (only those are cut).
    Cheap (the week's rounds through ``ix_pulse_round_counted_week``), as it is read again while
    the writer holds the lock."""
    rounds = select(col(PulseRound.id), col(PulseRound.closed)).where(
        counted_week() >= week, counted_week() < week + timedelta(days=7)
    )
    unsure = select(func.count(), func.coalesce(func.sum(col(Participation.unsure)), 0)).where(
        col(Participation.round_id).in_(week_rounds(week))
    )
    questions = select(
        col(Question.id), col(Question.theme), col(Question.reverse), col(Question.advocacy)
    )
    teams = select(col(Team.id), col(Team.parent_id))
    digest = hashlib.sha256()
    for query in (rounds, unsure, questions, teams):
        rows = sorted((await run_query(session, query)).all(), key=repr)
        digest.update(repr(rows).encode())
    return digest.hexdigest()
