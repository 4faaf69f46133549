"""What ``bench/trust_day.py`` measures of each phase besides its wall time, read from outside
the processes measured:

* per ``teampulse serve`` replica: CPU seconds (user + system, its process tree, from
  ``/proc/<pid>/stat``) and the peak resident memory (the tree's ``VmRSS``, sampled every
  ``EVERY`` seconds);
* PostgreSQL: the bench database's ``pg_stat_database`` deltas (transactions committed, tuples
  returned, fetched, inserted, updated, deleted), the most connections to it at once
  (``pg_stat_activity``, sampled) and the CPU of its backends (``/proc`` of the pids
  ``pg_stat_activity`` lists, sampled: a backend's last ``EVERY`` seconds before it exits are
  missed).  PostgreSQL's shared background processes (WAL writer, checkpointer) are left out:
  the server is shared with other work.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from ingest_processes import cpu_seconds

EVERY = 0.25  # seconds between samples
TUPLES = ("xact_commit", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated")
COUNTERS = (*TUPLES, "tup_deleted")
TICK = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total = int(line.split()[1]) * 1024
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(rss_bytes(int(child)) for child in children)


def own_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Phase:
    """One phase's figures."""

    name: str
    seconds: float = 0.0
    cpu: list[float] = field(default_factory=list)  # per replica
    rss_peak: list[int] = field(default_factory=list)  # per replica, bytes
    pg: dict[str, int] = field(default_factory=dict)  # pg_stat_database deltas
    pg_connections: int = 0
    pg_cpu: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Probe:
    """Samples the replicas and the database in the background; ``phase`` brackets one phase."""

    def __init__(self, dsn: str, database: str, pids: list[int]) -> None:
        """``dsn``: any database of the server but the bench's (this probe's own connection is
        not counted)."""
        self.dsn, self.database, self.pids = dsn, database, pids
        self.backends: dict[int, float] = {}  # backend pid -> its CPU seconds when last seen
        self.open: list[_Open] = []  # the phases under way (they may overlap)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.admin = await asyncpg.connect(self.dsn)
        self.lock = asyncio.Lock()  # one query at a time on the probe's connection
        self._task = asyncio.ensure_future(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.admin.close()

    async def _sample(self) -> None:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = $1"
        while True:
            rss = [rss_bytes(pid) for pid in self.pids]
            async with self.lock:
                found = await self.admin.fetch(query, self.database)
            pids = [int(r["pid"]) for r in found]
            for phase in self.open:
                phase.rss_peak = [max(a, b) for a, b in zip(phase.rss_peak, rss, strict=True)]
                phase.connections = max(phase.connections, len(pids))
            for pid in pids:
                cpu = own_cpu(pid)
                if cpu is not None:
                    self.backends[pid] = cpu
            await asyncio.sleep(EVERY)

    async def counters(self) -> dict[str, int]:
        async with self.lock:
            await self.admin.execute("SELECT pg_stat_clear_snapshot()")
            row = await self.admin.fetchrow(
                f"SELECT {', '.join(COUNTERS)} FROM pg_stat_database WHERE datname = $1",
                self.database,
            )
        return {name: int(row[name]) for name in COUNTERS}

    async def begin(self, name: str) -> _Open:
        opened = _Open(
            Phase(name),
            time.perf_counter(),
            [cpu_seconds(pid) for pid in self.pids],
            dict(self.backends),
            await self.counters(),
            [rss_bytes(pid) for pid in self.pids],
        )
        self.open.append(opened)
        return opened

    async def end(self, opened: _Open) -> Phase:
        self.open.remove(opened)
        phase = opened.phase
        phase.seconds = time.perf_counter() - opened.started
        phase.cpu = [cpu_seconds(p) - c for p, c in zip(self.pids, opened.cpu, strict=True)]
        await asyncio.sleep(1.1)  # backends report their counters at most every second
        after = await self.counters()
        phase.pg = {k: after[k] - opened.counters[k] for k in COUNTERS}
        phase.rss_peak = opened.rss_peak
        phase.pg_connections = opened.connections
        phase.pg_cpu = sum(
            cpu - opened.backends.get(pid, 0.0) for pid, cpu in self.backends.items()
        )
        return phase


@dataclass
class _Open:
    phase: Phase
    started: float
    cpu: list[float]
    backends: dict[int, float]
    counters: dict[str, int]
    rss_peak: list[int]
    connections: int = 0
