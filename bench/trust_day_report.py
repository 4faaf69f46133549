"""The printed report of ``bench/trust_day.py``: one markdown table of the phases, then each
phase's own figures (delivery against the ideal, answer and trends latencies, the ticks)."""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from trust_day_probe import Phase

MB = 1024 * 1024


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def spread(seconds: list[float]) -> str:
    """p50 / p95 / p99 / max in ms."""
    if not seconds:
        return "none"
    ms = [s * 1000 for s in seconds]
    return (
        f"p50 {statistics.median(ms):.0f} ms, p95 {percentile(ms, 95):.0f} ms, p99 "
        f"{percentile(ms, 99):.0f} ms, max {max(ms):.0f} ms"
    )


def per_replica(values: list[float], fmt: str) -> str:
    return " / ".join(fmt.format(v) for v in values)


def table(phases: list[Phase]) -> list[str]:
    lines = [
        "| phase | wall s | CPU s per replica | peak RSS MB per replica | PG commits | PG tuples"
        " returned+fetched / inserted / updated / deleted | PG peak conns | PG backends CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in phases:
        pg = p.pg
        tuples = (
            f"{pg['tup_returned'] + pg['tup_fetched']:,} / {pg['tup_inserted']:,} / "
            f"{pg['tup_updated']:,} / {pg['tup_deleted']:,}"
        )
        lines.append(
            f"| {p.name} | {p.seconds:.1f} | {per_replica(p.cpu, '{:.1f}')} | "
            f"{per_replica([r / MB for r in p.rss_peak], '{:.0f}')} | {pg['xact_commit']:,} | "
            f"{tuples} | {p.pg_connections} | {p.pg_cpu:.1f} |"
        )
    return lines


def details(phase: Phase) -> str:
    x: dict[str, Any] = phase.extra
    cpu = sum(phase.cpu)
    if phase.name.startswith("1"):
        how = "several per transaction" if x["batched"] else "one after another"
        return f"open: {x['opened']} rounds in {phase.seconds:.1f} s, {how}"
    if phase.name.startswith("2"):
        ratio = x["last_dm_s"] / x["ideal_s"] if x["ideal_s"] else float("nan")
        return (
            f"deliver: {x['people']:,} DMs, the last {x['last_dm_s']:.1f} s after the first round"
            f" opened ({ratio:.2f}x the ideal {x['ideal_s']:.1f} s), the first after "
            f"{x['first_dm_s']:.2f} s; server CPU {1000 * cpu / x['people']:.2f} ms per DM; "
            f"429s {json.dumps(x['refused'])}; calls {json.dumps(x['methods'])}; "
            f"outbox {json.dumps(x['outbox'])}"
        )
    if phase.name.startswith("3"):
        return (
            f"answers: {x['answers']:,} over {x['window_s']:.0f} s ({x['in_first_fifth']:,} in its "
            f"first fifth), the last sent at {x['last_sent_s']:.1f} s; {spread(x['latencies'])};"
            f" {json.dumps(x['statuses'])}; server CPU {1000 * cpu / x['answers']:.2f} ms per "
            f"answer (receipts included); before it, each replica's first answer with a comment"
            f" (untimed warm-up): {x['cold']}"
        )
    if phase.name.startswith("4"):
        sent = max(1, x["reminders"])
        return (
            f"reminders: waited {x['tick_wait_s']:.1f} s for the tick; {x['reminders']:,} DMs "
            f"({x['queued']:,} rows queued), the last {x['tick_to_last_dm_s']:.1f} s after the "
            f"tick; server CPU {1000 * cpu / sent:.2f} ms per reminder; 429s so far "
            f"{json.dumps(x['refused'])}"
        )
    if phase.name.startswith("5"):
        return (
            f"close: waited {x['tick_wait_s']:.1f} s for the tick; all rounds closed to the week"
            f" cut {x['closed_to_cut_s']:.2f} s ({x['cells']:,} cells; {x['responses']:,} "
            "response rows)"
        )
    if phase.name.startswith("6"):
        return (
            f"trends: {x['asked']} managers, acks {json.dumps(x['acks'])}; reply "
            f"{spread(x['latencies'])} ({len(x['latencies'])} replies); each replica's first "
            f"report before it (untimed warm-up): {[round(c, 2) for c in x['cold']]} s"
        )
    return f"{phase.name}: {phase.seconds:.1f} s"


def report(
    args: argparse.Namespace,
    trust: Any,
    phases: list[Phase],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    print()
    print(
        f"{trust.people:,} people in {trust.teams} wards, {trust.directorates} directorates; "
        f"{args.replicas} replica(s); Slack fake: {args.post_rate} chat.postMessage/s, "
        f"{args.open_per_minute} conversations.open/min; load average before "
        f"{' '.join(f'{v:.2f}' for v in load_before)}, after "
        f"{' '.join(f'{v:.2f}' for v in load_after)}"
    )
    print()
    print("\n".join(table(phases)))
    print()
    for phase in phases:
        print(f"- {details(phase)}")
