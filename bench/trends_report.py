"""The trends benchmark's results (``RunResult`` per backend and size, ``ScopeResult`` per ward,
directorate or trust) and how they are printed: the Markdown tables of docs/performance.md and the
``--json`` figures."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class ScopeResult:
    scope: str
    teams: int
    report: Timing
    chat: Timing
    baseline: Timing
    command_baseline: Timing  # the chat command's yardstick (``trends_checks.MANAGER_SQL``)
    statements: dict[str, int]  # sent by one report and one command (``statements_of``)
    comments_shown: int
    comments_total: int
    baseline_rows: int
    baseline_groups: int


@dataclass
class RunResult:
    backend: str
    size: int
    responses: int
    deliveries: int
    rounds: int
    load_s: float
    rebuild_s: float
    rebuild_week_median_s: float
    rebuild_week_max_s: float
    db_mb: float
    chart_ms: float
    server: str
    scopes: list[ScopeResult]
    plans: dict[str, list[str]] = field(default_factory=dict)


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def tables(results: Sequence[RunResult]) -> Iterator[str]:
    yield "| backend | responses | scope | report median / p95 (ms) | baseline median / p95 (ms) "
    yield "| report ÷ baseline | chat median / p95 (ms) | chat's baseline median (ms) | "
    yield "chat ÷ its baseline | statements: report / chat | "
    yield "comments: shown of published | rows read: baseline | runs |\n"
    yield "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for run in results:
        for s in run.scopes:
            yield (
                f"| {run.backend} | {run.responses:,} | {s.scope} ({s.teams} teams) | "
                f"{ms(s.report.median)} / {ms(s.report.p95)} | "
                f"{ms(s.baseline.median)} / {ms(s.baseline.p95)} | "
                f"{s.report.median / s.baseline.median:.2f} | "
                f"{ms(s.chat.median)} / {ms(s.chat.p95)} | {ms(s.command_baseline.median)} | "
                f"{s.chat.median / s.command_baseline.median:.2f} | "
                f"{s.statements['report']} / {s.statements['chat']} | "
                f"{s.comments_shown} of {s.comments_total:,} | {s.baseline_rows:,} | "
                f"{len(s.report.samples)} |\n"
            )
    yield "\n| backend | responses | deliveries | rounds | load (s) | rebuild 52 weeks (s) | "
    yield "rebuild one week median / max (s) | database (MB) | chart PNG (ms) |\n"
    yield "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for run in results:
        yield (
            f"| {run.backend} | {run.responses:,} | {run.deliveries:,} | {run.rounds:,} | "
            f"{run.load_s:.1f} | {run.rebuild_s:.1f} | {run.rebuild_week_median_s:.2f} / "
            f"{run.rebuild_week_max_s:.2f} | {run.db_mb:,.0f} | {run.chart_ms:.0f} |\n"
        )


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )


def jsonable(run: RunResult) -> dict[str, Any]:
    data = dict(run.__dict__)
    data["scopes"] = [
        {
            **{k: v for k, v in s.__dict__.items() if not isinstance(v, Timing)},
            **{
                name: {"median_ms": 1000 * t.median, "p95_ms": 1000 * t.p95, "runs": len(t.samples)}
                for name, t in s.__dict__.items()
                if isinstance(t, Timing)
            },
        }
        for s in run.scopes
    ]
    return data
