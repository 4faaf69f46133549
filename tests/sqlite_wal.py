"""Reading a copy of SQLite's ``-wal`` file as an attacker would: its frames, its commits, and the
database as it was after each commit.

The format (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte header (magic, version,
page size, checkpoint sequence, two salts, two checksums), then frames of a 24-byte header (page
number, the database size after commit, non-zero only in a transaction's last frame; the two
salts; the two cumulative checksums) and one page.  A frame counts only while its salts match the
header's and the checksum chain holds.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADER = 32
FRAME_HEADER = 24


@dataclass(frozen=True)
class Commit:
    frame: int  # index of the commit frame
    end: int  # byte offset just after it: the WAL up to here holds this commit and those before


def _checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack((">" if big_endian else "<") + f"{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def commits(wal: bytes) -> list[Commit]:
    """The commits the WAL file holds, oldest first (valid frames only)."""
    if len(wal) < HEADER:
        return []
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", wal[:HEADER])
    assert magic in (0x377F0682, 0x377F0683), hex(magic)
    big = bool(magic & 1)
    s0, s1 = _checksum(wal[:24], big, 0, 0)
    assert (s0, s1) == (c1, c2), "WAL header checksum"
    found: list[Commit] = []
    size = FRAME_HEADER + page_size
    offset, index = HEADER, 0
    while offset + size <= len(wal):
        header = wal[offset : offset + FRAME_HEADER]
        _page, after_commit, f_salt1, f_salt2, f_c1, f_c2 = struct.unpack(">6I", header)
        if (f_salt1, f_salt2) != (salt1, salt2):
            break
        s0, s1 = _checksum(header[:8], big, s0, s1)
        s0, s1 = _checksum(wal[offset + FRAME_HEADER : offset + size], big, s0, s1)
        if (s0, s1) != (f_c1, f_c2):
            break
        offset += size
        if after_commit:
            found.append(Commit(index, offset))
        index += 1
    return found


ANSWERS = "SELECT submission_id, round_id, comment FROM response"
PARTICIPATION = "SELECT round_id, digests FROM participation"


@dataclass(frozen=True)
class State:
    """What the attacker reads from the database as it was after one commit."""

    submissions: dict[str, str | None]  # submission id -> its comment (if any)
    rounds: dict[str, int]  # submission id -> round id
    digests: dict[int, frozenset[str]]  # round id -> participation digests

    @classmethod
    def of(cls, answers: Iterable[Sequence[Any]], participation: Iterable[Sequence[Any]]) -> State:
        """From the rows of ``ANSWERS`` and ``PARTICIPATION`` (on either database)."""
        submissions: dict[str, str | None] = {}
        rounds: dict[str, int] = {}
        for submission_id, round_id, comment in answers:
            rounds[submission_id] = round_id
            if comment is not None or submission_id not in submissions:
                submissions[submission_id] = comment
        digests = {
            round_id: frozenset(d for d in stored.split(",") if d)
            for round_id, stored in participation
        }
        return cls(submissions, rounds, digests)


def read_state(path: Path) -> State:
    with closing(sqlite3.connect(path)) as connection:
        return State.of(connection.execute(ANSWERS), connection.execute(PARTICIPATION))


def replay(db_file: Path, wal_file: Path, scratch: Path) -> Iterator[State]:
    """The database before the WAL's first commit, then after each commit in turn: the copied
    database file beside the WAL cut just after that commit frame (SQLite rebuilds its index of
    the WAL when it opens it)."""
    wal = wal_file.read_bytes()
    cuts = [HEADER, *(commit.end for commit in commits(wal))]
    for number, cut in enumerate(cuts):
        folder = scratch / f"commit-{number}"
        folder.mkdir(parents=True)
        shutil.copyfile(db_file, folder / "copy.db")
        (folder / "copy.db-wal").write_bytes(wal[:cut])
        yield read_state(folder / "copy.db")


def copy_files(db_file: Path, into: Path) -> tuple[Path, Path]:
    """A copy of the database file and its ``-wal``, taken now (as a backup or a thief would)."""
    into.mkdir(parents=True)
    wal = Path(f"{db_file}-wal")
    shutil.copyfile(db_file, into / db_file.name)
    shutil.copyfile(wal, into / wal.name)
    return into / db_file.name, into / wal.name
