"""Reading PostgreSQL's ``pg_wal`` as an attacker would, with ``pg_waldump`` (it ships with
PostgreSQL): which transactions committed, in which order, and which relations each touched.

The WAL segments are copied out of the server (``pg_read_binary_file``, as superuser) into a
folder and read there.  A temporary physical replication slot keeps the server from recycling
them while the test runs; other databases' records in the same segments are left out by the
database's oid.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncpg
from sqlalchemy import text

from storage.engine import Database
from tests.sqlite_wal import ANSWERS, PARTICIPATION, State

_RECORD = re.compile(
    r"rmgr: (\w+)\s+len \(rec/tot\):\s+\d+/\s*\d+, tx:\s+(\d+), lsn: ([0-9A-F]+/[0-9A-F]+), "
    r"prev [0-9A-F]+/[0-9A-F]+, desc: (.*)$"
)
_BLOCK = re.compile(r"rel (\d+)/(\d+)/(\d+)")
_SUBXACTS = re.compile(r"subxacts: ([\d ]+)")


def lsn(value: str) -> int:
    high, low = value.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def text_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def pg_waldump(major: int) -> str:
    found = shutil.which("pg_waldump") or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/{major}/bin/pg_waldump"))), None
    )
    assert found, "pg_waldump (it ships with PostgreSQL) is needed"
    return found


@dataclass
class Transaction:
    xid: int
    commit_lsn: int
    relations: set[str] = field(default_factory=set)

    def touches(self, relation: str) -> bool:
        return relation in self.relations


class WalReader:
    def __init__(self, url: str) -> None:
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self.slot = f"tp_wal_{uuid.uuid4().hex[:12]}"
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> WalReader:
        self._connection = await asyncpg.connect(self.dsn)
        await self.db.execute(
            "SELECT pg_create_physical_replication_slot($1, true, true)", self.slot
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.db.close()  # the temporary slot goes with the session

    @property
    def db(self) -> asyncpg.Connection:
        assert self._connection is not None
        return self._connection

    async def mark(self) -> int:
        """The WAL position everything committed so far is flushed up to."""
        return lsn(await self.db.fetchval("SELECT pg_current_wal_flush_lsn()::text"))

    async def _relations(self) -> dict[str, str]:
        """'tablespace/database/filenode' -> relation name, for this database's relations."""
        rows = await self.db.fetch(
            "SELECT c.relname, c.reltablespace, pg_relation_filenode(c.oid) AS node, "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) AS dboid, "
            "(SELECT dattablespace FROM pg_database WHERE datname = current_database()) AS dts "
            "FROM pg_class c WHERE pg_relation_filenode(c.oid) IS NOT NULL"
        )
        return {
            f"{row['reltablespace'] or row['dts']}/{row['dboid']}/{row['node']}": row["relname"]
            for row in rows
        }

    async def _copy_segments(self, start: int, end: int, folder: Path) -> None:
        first = await self.db.fetchval("SELECT pg_walfile_name($1::text::pg_lsn)", text_lsn(start))
        last = await self.db.fetchval("SELECT pg_walfile_name($1::text::pg_lsn)", text_lsn(end))
        names = [
            row["name"]
            for row in await self.db.fetch("SELECT name FROM pg_ls_waldir() ORDER BY name")
            if first <= row["name"] <= last and len(row["name"]) == 24
        ]
        assert names and names[0] == first and names[-1] == last, (first, last, names)
        folder.mkdir(parents=True)
        for name in names:
            data = await self.db.fetchval("SELECT pg_read_binary_file('pg_wal/' || $1)", name)
            (folder / name).write_bytes(data)

    async def segments(self, start: int, end: int, folder: Path) -> list[Path]:
        """Copies of the raw WAL segment files written between two marks (what a thief of
        ``pg_wal``, or of its archive, holds)."""
        await self._copy_segments(start, end, folder)
        return sorted(folder.iterdir())

    async def transactions(self, start: int, end: int, folder: Path) -> list[Transaction]:
        """This database's committed transactions between two marks, in commit order."""
        await self._copy_segments(start, end, folder)
        relations = await self._relations()
        major = int(await self.db.fetchval("SHOW server_version_num")) // 10000
        dump = subprocess.run(
            [pg_waldump(major), "-p", str(folder), "-s", text_lsn(start), "-e", text_lsn(end)],
            capture_output=True,
            text=True,
            check=False,
        )
        touched: dict[int, set[str]] = {}
        commits: list[tuple[int, int, list[int]]] = []
        for line in dump.stdout.splitlines():
            record = _RECORD.search(line)
            if record is None:
                continue
            rmgr, xid, at, desc = record.group(1), int(record.group(2)), record.group(3), record[4]
            for block in _BLOCK.finditer(desc):
                name = relations.get("/".join(block.groups()))
                if name is not None and xid:
                    touched.setdefault(xid, set()).add(name)
            if rmgr == "Transaction" and desc.startswith("COMMIT"):
                subxacts = _SUBXACTS.search(desc)
                children = [int(x) for x in subxacts.group(1).split()] if subxacts else []
                commits.append((xid, lsn(at), children))
        assert commits, dump.stderr
        found = []
        for xid, at, children in commits:
            names = set().union(touched.get(xid, set()), *(touched.get(c, set()) for c in children))
            if names:
                found.append(Transaction(xid, at, names))
        return found


async def participation_state(db: Database) -> State:
    """The answers and the participation rows as they are now (a copy taken at this moment)."""
    async with db.engine.connect() as connection:
        answers = (await connection.execute(text(ANSWERS))).all()
        participation = (await connection.execute(text(PARTICIPATION))).all()
    return State.of(answers, participation)
