"""What reading one Teams activity costs before the bot sees it: the body's bounded JSON
(``bot/json_input.py``), then botbuilder's ``Activity`` from it, by msrest's generic
``Activity.deserialize`` (what the endpoint did) and by ``adapters/teams/sdk/models.activity_of``
(what it does), for the activities of ``bench/teams_ingest.py``.

The two are interleaved (``--rounds`` rounds of ``--calls`` calls each) and timed in CPU time
(``time.process_time``), so other work on the machine slows neither; the median round is
reported, with the load average.  "msrest/direct" compares the ``Activity`` step alone (the
JSON's cost taken off both).

Usage::

    .venv/bin/python bench/teams_parse.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from botbuilder.schema import Activity  # noqa: E402
from teams_ingest import card_invoke, text_message  # noqa: E402

from adapters.teams.sdk.models import activity_of  # noqa: E402
from bot import json_input  # noqa: E402

SERVICE_URL = "https://smba.trafficmanager.net/uk/"
QUESTIONS = ["q1", "q2", "q3", "q4"]


def cost(work: Callable[[], object], calls: int) -> float:
    """CPU microseconds per call, over ``calls`` calls."""
    start = time.process_time()
    for _ in range(calls):
        work()
    return (time.process_time() - start) / calls * 1e6


def ways_to_read(raw: bytes) -> dict[str, Callable[[], object]]:
    return {
        "json": lambda: json_input.loads(raw, 64),
        "msrest": lambda: Activity.deserialize(json_input.loads(raw, 64)),
        "direct": lambda: activity_of(json_input.loads(raw, 64)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    bodies = {
        "invoke (a card's submission)": card_invoke(4, "ann@x.nhs.uk", 3, QUESTIONS, SERVICE_URL),
        "message (typed `pulse`)": text_message(4, "ann@x.nhs.uk", 3, QUESTIONS, SERVICE_URL),
    }
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| activity | bytes | JSON only µs | + msrest µs | + direct µs | msrest/direct |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, text in bodies.items():
        ways = ways_to_read(text.encode())
        assert ways["msrest"]() == ways["direct"](), "the same Activity"
        rounds: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.rounds):
            for way, work in ways.items():
                rounds[way].append(cost(work, args.calls))
        json_us, msrest_us, direct_us = (statistics.median(rounds[w]) for w in ways)
        ratio = (msrest_us - json_us) / (direct_us - json_us)
        print(
            f"| {name} | {len(text.encode())} | {json_us:.0f} | {msrest_us:.0f} | "
            f"{direct_us:.0f} | {ratio:.1f} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
