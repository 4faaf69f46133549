"""Where bench/trends.py writes its data: a throwaway SQLite file or PostgreSQL database, migrated
with ``storage.migrate.upgrade`` and loaded in bulk (sqlite3 ``executemany`` in one transaction;
asyncpg ``COPY``), with each backend's week expression and ``EXPLAIN`` prefix."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from trends_data import COLUMNS, Formats, Tables  # noqa: E402  (bench/ is on sys.path as a script)

from storage.migrate import upgrade  # noqa: E402


class Backend:
    name: str
    url: str

    async def create(self) -> None:
        raise NotImplementedError

    async def drop(self) -> None:
        raise NotImplementedError

    async def open_loader(self) -> None:
        raise NotImplementedError

    async def load(self, tables: Tables) -> None:
        raise NotImplementedError

    async def finish_load(self) -> None:
        raise NotImplementedError

    async def analyze(self) -> None:
        raise NotImplementedError

    async def size_bytes(self) -> int:
        raise NotImplementedError

    async def version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def formats(self) -> Formats:
        return Formats(sqlite=self.name == "sqlite")

    def week_expr(self, column: str) -> str:
        raise NotImplementedError

    def explain_prefix(self) -> str:
        raise NotImplementedError


ORDER = list(COLUMNS)


class SQLite(Backend):
    name = "sqlite"

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="teampulse-bench-")) / "bench.db"
        self.url = f"sqlite+aiosqlite:///{self.path}"
        self._conn: sqlite3.Connection | None = None

    async def create(self) -> None:
        await upgrade(self.url)

    async def drop(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)

    async def open_loader(self) -> None:
        """One transaction for the whole load, no journal (a throwaway file: if the load fails,
        the run fails), foreign keys checked.  The application's WAL mode is back on after."""
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=OFF")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA cache_size=-2000000")
        self._conn.execute("BEGIN")

    async def load(self, tables: Tables) -> None:
        assert self._conn is not None
        for table in ORDER:
            rows = tables.rows.get(table)
            if rows:
                columns = COLUMNS[table]
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                self._conn.executemany(sql, rows)

    async def finish_load(self) -> None:
        assert self._conn is not None
        self._conn.execute("COMMIT")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.close()
        self._conn = None

    async def analyze(self) -> None:
        """Nothing: the application never runs ANALYZE on SQLite, so the planner has no
        statistics here either (the realistic case)."""

    async def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.iterdir() if p.is_file())

    def week_expr(self, column: str) -> str:
        weekday = f"(CAST(strftime('%w', {column}) AS INTEGER) + 6) % 7"
        return f"date({column}, '-' || ({weekday}) || ' days')"

    def explain_prefix(self) -> str:
        return "EXPLAIN QUERY PLAN "


class PostgreSQL(Backend):
    name = "postgresql"

    def __init__(self, server_url: str) -> None:
        self.server_dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")
        prefix = os.environ.get("BENCH_DB_PREFIX", "tp_bench")  # (a shared server: name yours)
        self.database = f"{prefix}_{uuid.uuid4().hex[:10]}"
        base = server_url.rsplit("/", 1)[0]
        self.url = f"{base}/{self.database}"
        self.dsn = self.url.replace("postgresql+asyncpg://", "postgresql://")
        self._conn: asyncpg.Connection | None = None

    async def create(self) -> None:
        admin = await asyncpg.connect(self.server_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        await upgrade(self.url)

    async def drop(self) -> None:
        admin = await asyncpg.connect(self.server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await admin.close()

    async def open_loader(self) -> None:
        """COPY, with the foreign-key triggers off for this session only (the rows are consistent
        by construction; the SQLite load, with its checks on, proves the same generator)."""
        self._conn = await asyncpg.connect(self.dsn)
        await self._conn.execute("SET session_replication_role = replica")

    async def load(self, tables: Tables) -> None:
        assert self._conn is not None
        async with self._conn.transaction():
            for table in ORDER:
                rows = tables.rows.get(table)
                if rows:
                    await self._conn.copy_records_to_table(
                        table, records=rows, columns=COLUMNS[table]
                    )

    async def finish_load(self) -> None:
        assert self._conn is not None
        for table in ("organisation", "team", "person", "membership", "pulse_round", "delivery"):
            await self._conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        await self._conn.execute(
            "SELECT setval(pg_get_serial_sequence('recognition', 'id'), "
            "(SELECT coalesce(max(id), 0) + 1 FROM recognition), false)"
        )
        await self._conn.close()
        self._conn = None

    async def analyze(self) -> None:
        """What autovacuum does soon after a bulk load, done now so timings do not depend on
        when it wakes up."""
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    async def size_bytes(self) -> int:
        conn = await asyncpg.connect(self.dsn)
        try:
            return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()

    def week_expr(self, column: str) -> str:
        return f"CAST(date_trunc('week', {column}) AS DATE)"

    async def version(self) -> str:
        conn = await asyncpg.connect(self.dsn)
        try:
            return f"PostgreSQL {await conn.fetchval('SHOW server_version')}"
        finally:
            await conn.close()

    def explain_prefix(self) -> str:
        return "EXPLAIN "
