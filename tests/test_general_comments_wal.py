"""A general comment against the database's own log: it is written in its card's answer
transaction and nowhere else, so the log places it exactly where it places the card's answers
(``tests/test_wal_attacker.py`` shows those stay among at least k people).

The attacker holds SQLite's ``-wal`` (replayed commit by commit) or PostgreSQL's ``pg_wal`` (read
with ``pg_waldump``) and the secret.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import Receipt
from storage.engine import Database
from tests.conftest import BACKENDS
from tests.pg_wal import WalReader
from tests.sqlite_wal import HEADER, commits, copy_files
from tests.support import email, make_service

PEOPLE = [email(f"a{i}") for i in range(12)]
# tables (and their indexes) whose rows name a person or who answered
PERSON_TABLES = (
    "participation",
    "delivery",
    "person",
    "platformidentity",
    "conversation_reference",
    "membership",
    "recognition",
)


@dataclass(frozen=True)
class Rows:
    """What the attacker reads after one commit: the answer cards, the general comments and the
    participation digests (all of them, every round)."""

    cards: frozenset[str]
    general: frozenset[str]
    digests: frozenset[str]


def read_rows(path: Path) -> Rows:
    with closing(sqlite3.connect(path)) as connection:
        cards = {c for (c,) in connection.execute("SELECT submission_id FROM response")}
        general = {c for (c,) in connection.execute("SELECT id FROM general_comment")}
        stored = [d for (d,) in connection.execute("SELECT digests FROM participation")]
    digests = {d for row in stored for d in row.split(",") if d}
    return Rows(frozenset(cards), frozenset(general), frozenset(digests))


def replay(db_file: Path, wal_file: Path, scratch: Path) -> list[Rows]:
    """The database before the WAL's first commit, then after each commit in turn."""
    wal = wal_file.read_bytes()
    found = []
    for number, cut in enumerate([HEADER, *(commit.end for commit in commits(wal))]):
        folder = scratch / f"commit-{number}"
        folder.mkdir(parents=True)
        shutil.copyfile(db_file, folder / "copy.db")
        (folder / "copy.db-wal").write_bytes(wal[:cut])
        found.append(read_rows(folder / "copy.db"))
    return found


async def answer_in_turn(service: TeamPulse) -> None:
    """Ward A answers one person at a time; every other card carries a general comment."""
    await service.open_round(await service.team_named("Ward A"))
    await service.deliver_outbox()
    for step, person in enumerate(PEOPLE):
        [card] = await service.pending_pulses(person)
        answers = {q.id: 1 + step % 5 for q in card.questions}
        general = f"general words {step}" if step % 2 else ""
        reply = await service.submit_pulse(person, card.round_id, answers, general_comment=general)
        assert isinstance(reply, Receipt)
    await service.close_round(await service.team_named("Ward A"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_wal_shows_each_general_comment_only_beside_its_cards_answers(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    service, _ = await make_service(db, settings)
    db_file = Path(settings.database_url.split("///", 1)[1])
    await answer_in_turn(service)
    db_copy, wal_copy = copy_files(db_file, tmp_path / "closed")

    states = replay(db_copy, wal_copy, tmp_path / "replay")
    assert len(states[-1].general) == len(PEOPLE) // 2
    for before, after in pairwise(states):
        general = after.general - before.general
        cards = after.cards - before.cards
        digests = after.digests - before.digests
        if general:
            # one card at a time here: the comment's commit adds that card, and no one's digest
            assert len(general) == 1 and len(cards) == 1 and not digests, (general, cards)
        if digests:
            assert not general and not cards


@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_pg_wal_shows_each_general_comment_only_in_an_answer_transaction(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    service, _ = await make_service(db, settings)
    async with WalReader(settings.database_url) as wal:
        start = await wal.mark()
        await answer_in_turn(service)
        log = await wal.transactions(start, await wal.mark(), tmp_path / "pg_wal")

    writing = [t for t in log if t.touches("general_comment")]
    assert len(writing) == len(PEOPLE) // 2
    for transaction in writing:
        assert transaction.touches("response"), transaction
        named = {
            r for r in transaction.relations if r.removeprefix("ix_").startswith(PERSON_TABLES)
        }
        assert not named, transaction
