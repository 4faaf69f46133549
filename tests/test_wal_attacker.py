"""DESIGN.md invariant 1 against the database's own log (issue 8, part 3).

The attacker holds a copy of every file of the database taken at some moment (SQLite's
``teampulse.db`` and ``teampulse.db-wal``; PostgreSQL's ``pg_wal``), and ``TEAMPULSE_SECRET``.
People answer one at a time through the real service.  The attacker replays the log commit by
commit and places each answer's author among the people whose digests the log shows
(``tests/wal_attack.py``): never fewer than k of them, or all the round's respondents when fewer.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from sqlmodel import select

from bot.settings import Settings
from storage.engine import Database
from storage.models import Person
from tests.conftest import BACKENDS
from tests.pg_wal import WalReader, participation_state
from tests.sqlite_wal import State, copy_files, replay
from tests.support import make_service
from tests.wal_attack import (
    Commit,
    answer_one_at_a_time,
    assert_hidden,
    assert_no_commit_narrows,
    by_round,
    diff,
)

MID_ROUND = 7  # the copy taken after this many answers


PERSON_TABLES = (
    "participation",
    "delivery",
    "person",
    "platformidentity",
    "conversation_reference",
    "membership",
    "recognition",
)


def _names_people(relation: str) -> bool:
    """A table (or one of its indexes) whose rows name a person or who answered."""
    return relation.removeprefix("ix_").startswith(PERSON_TABLES)


async def _person_ids(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return {p.email: p.id for p in (await session.exec(select(Person))).all() if p.id}


def _sqlite_commits(states: list[State]) -> list[Commit]:
    return [
        Commit(
            answers=diff(by_round(before.rounds), by_round(after.rounds)),
            digests=diff(before.digests, after.digests),
        )
        for before, after in pairwise(states)
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_copy_of_the_sqlite_wal_places_no_answer_among_fewer_than_k(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    service, _ = await make_service(db, settings)
    db_file = Path(settings.database_url.split("///", 1)[1])
    people = await _person_ids(db)
    copies: list[tuple[Path, Path]] = []

    async def after_each(step: int) -> None:
        if step + 1 == MID_ROUND:
            copies.append(copy_files(db_file, tmp_path / "mid-round"))

    scenario = await answer_one_at_a_time(service, people, after_each)
    for team in ("Ward A", "Ward B"):
        await service.close_round(await service.team_named(team))
    copies.append(copy_files(db_file, tmp_path / "closed"))

    k = settings.min_group
    for number, (db_copy, wal_copy) in enumerate(copies):
        states = list(replay(db_copy, wal_copy, tmp_path / f"replay-{number}"))
        assert not states[0].submissions, "the copied WAL holds the whole round"
        last = states[-1]
        commits = _sqlite_commits(states)
        mid = number == 0
        assert len(last.submissions) == (MID_ROUND if mid else 18)
        # mid-round, everyone invited whose digest is not written yet may be an author
        unwritten = {
            round_id: invited - last.digests.get(round_id, frozenset())
            for round_id, invited in scenario.invited.items()
        }
        assert_hidden(scenario, commits, last.submissions, last.rounds, k, unwritten if mid else {})
        if not mid:
            assert all(last.digests[r] == scenario.invited[r] for r in scenario.invited)
            assert_no_commit_narrows(commits, last.rounds, k)


@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_pg_waldump_over_the_round_places_no_answer_among_fewer_than_k(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    service, _ = await make_service(db, settings)
    people = await _person_ids(db)
    async with WalReader(settings.database_url) as wal:
        states: list[State] = []  # a copy of the rows taken at each moment
        marks: list[int] = []

        async def after_each(_step: int) -> None:
            states.append(await participation_state(db))
            marks.append(await wal.mark())

        scenario = await answer_one_at_a_time(service, people, after_each)
        for team in ("Ward A", "Ward B"):
            await service.close_round(await service.team_named(team))
            await after_each(0)
        log = await wal.transactions(marks[0], marks[-1], tmp_path / "pg_wal")

    # the log's commits, each with the relations it touched; what each added comes from the
    # copies taken around it (one answer or one flush at a time)
    commits: list[Commit] = []
    for before, after, start, end in zip(states, states[1:], marks, marks[1:], strict=False):
        step = [t for t in log if start < t.commit_lsn <= end]
        touching_answers = [t for t in step if t.touches("response")]
        touching_digests = [t for t in step if t.touches("participation")]
        assert len(touching_answers) <= 1 and len(touching_digests) <= 1, step
        for transaction in touching_answers:  # an answer's transaction names no one
            assert not {r for r in transaction.relations if _names_people(r)}, transaction
        for transaction in step:
            answers = diff(by_round(before.rounds), by_round(after.rounds))
            digests = diff(before.digests, after.digests)
            commits.append(
                Commit(
                    answers=answers if transaction.touches("response") else {},
                    digests=digests if transaction.touches("participation") else {},
                )
            )
    final = states[-1]
    assert sum(len(c.answers.get(r, ())) for c in commits for r in c.answers) == 18
    assert all(final.digests[r] == scenario.invited[r] for r in scenario.invited)
    k = settings.min_group
    assert_hidden(scenario, commits, final.submissions, final.rounds, k, {})
    assert_no_commit_narrows(commits, final.rounds, k)
