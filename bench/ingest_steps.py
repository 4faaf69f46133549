"""Steps of a Slack answer on their own, in CPU time (so a busy machine slows neither side).

Run it with a checkout's code first on the path to time that checkout's steps, and compare two
checkouts run one after the other::

    PYTHONPATH=$PWD .venv/bin/python bench/ingest_steps.py
    PYTHONPATH=/tmp/old .venv/bin/python bench/ingest_steps.py   # another checkout's code

Timed: the gate's read of a pulse submission (``payload_of``: the form, the bounded JSON, the
shape check) and the bounded JSON alone; a comment's polarity; an answer's five random ids and
one of its log lines (through the app's handler); the stored emails' statement built and keyed
per batch, and (in a checkout that builds it once) keyed only; a task awaited under a time bound
(``bot/outage.py``); a group commit's call waited for with no bound, as a task under a bound and
under a bound in the caller's task (twice per answer: the person's email, the card; best of 15,
the three alternating); and the receipt's ``chat.update`` posted to the tests' fake Slack in
another process, with aiohttp's pooled client, as the adapter posts it.  Each figure is the best
of 5 repeats unless said, in µs of this process's CPU per call.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import aiohttp  # noqa: E402
from ingest_processes import spawn  # noqa: E402
from slack_ingest import pulse_submission  # noqa: E402

# (those put this checkout first on the path: the code timed is PYTHONPATH's)
sys.path[:] = [entry for entry in sys.path if entry != str(BENCH.parent)] + [str(BENCH.parent)]

COMMENT = "Handover ran late again but the team pulled together"
QUESTIONS = ["psych_safety_1", "respect_2", "support_3", "valued_1"]
RECEIPT = b'{"channel":"DUP00001","ts":"1700000000.000001","text":"Thank you","blocks":[]}'
HEADERS = {"Authorization": "Bearer xoxb-bench", "Content-Type": "application/json;charset=utf-8"}
POSTS = 3000
WAIT_ROUNDS = 300  # 9,600 calls of a group commit, 32 at a time


def per_call(work: Callable[[], object], number: int = 20_000) -> float:
    best = min(timeit.repeat(work, number=number, repeat=5, timer=time.process_time))
    return best / number * 1e6


def reads() -> None:
    from adapters.slack.app import form_of, payload_of
    from bot import json_input
    from surveys.responses import sentiment_of

    body = pulse_submission(7, "UP00007", "T0BENCH", 12, QUESTIONS, COMMENT)
    payload = form_of(body)["payload"]
    print(f"| gate's read (`payload_of`) | {per_call(lambda: payload_of(body, None)):.1f} |")
    print(
        f"| bounded JSON (`json_input.loads`) | {per_call(lambda: json_input.loads(payload)):.1f} |"
    )
    sentiment_of(COMMENT)  # (the lexicon's load)
    print(f"| a comment's polarity | {per_call(lambda: sentiment_of(COMMENT), 2000):.1f} |")


def per_answer() -> None:
    """What each answer pays besides: its rows' random ids (five for a card of four statements),
    its two log lines through the app's handler (to ``/dev/null``), and, per batch, building the
    stored emails' statement and its cache key (SQLAlchemy's, as ``execute`` works it out)."""
    import logging
    import os

    from bot.logs import configure_logging
    from storage.models import random_id

    ids = per_call(lambda: [random_id() for _ in range(5)])
    print(f"| five random ids (`random_id`) | {ids:.1f} |")
    configure_logging()
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  (for the process's life)
    line = logging.getLogger("bot.service")
    recorded = per_call(lambda: line.info("pulse answer recorded", extra={"round_id": 12}))
    print(f'| a log line ("pulse answer recorded") | {recorded:.1f} |')
    statements()


def statements() -> None:
    from sqlalchemy import ARRAY, any_, bindparam
    from sqlmodel import col, select

    from storage.models import Person, PlatformIdentity

    def one_of(column: Any, values: list[str]) -> Any:  # (as storage.lists binds its values)
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))

    ids = [f"UP{n:05d}" for n in range(30)]

    def fresh() -> Any:
        query = (
            select(PlatformIdentity.platform, PlatformIdentity.external_id, Person.email)
            .join(Person, col(PlatformIdentity.person_id) == col(Person.id))
            .where(
                one_of(col(PlatformIdentity.platform), ["slack"]),
                one_of(col(PlatformIdentity.external_id), ids),
            )
        )
        return query._generate_cache_key()

    print(
        f"| the stored emails' statement, built per batch and keyed | {per_call(fresh, 2000):.1f} |"
    )
    from bot import identities

    built = getattr(identities, "_stored_emails_query", None)
    if built is not None:  # (this checkout builds it once)
        cached = per_call(lambda: built(True)._generate_cache_key(), 2000)
        print(f"| the same, built once (`@cache`) and keyed | {cached:.1f} |")


async def bounded_waits() -> float:
    from bot.outage import within

    async def work() -> int:
        return 1

    started = time.process_time()
    for _ in range(20_000):
        await within(2.5, work(), "bench")
    return (time.process_time() - started) / 20_000 * 1e6


async def group_waits(how: str) -> float:
    """A call of a group commit waited for, as an answer waits for its person's stored email and
    for its card: 32 requests at a time, each in a task of its own (as aiohttp's handlers are),
    sharing each batch.  ``how``: ``unbounded`` (the floor: the call and its share of the batch),
    ``within`` (the call as a task of its own, bounded) or ``grouped`` (bounded in the caller's
    task; a checkout without ``outage.grouped`` raises AttributeError)."""
    from bot import outage
    from bot.batching import GroupCommit

    async def doubled(items: Sequence[int]) -> list[int]:
        return [2 * n for n in items]

    commit: GroupCommit[int, int] = GroupCommit(doubled)

    async def call(n: int) -> int:
        if how == "within":
            return await outage.within(2.5, commit(n), "bench")
        if how == "grouped":
            return await outage.grouped(commit, n, outage.Deadline.after(2.5), "bench")
        return await commit(n)

    loop = asyncio.get_running_loop()
    started = time.process_time()
    for _ in range(WAIT_ROUNDS):
        for task in [loop.create_task(call(n)) for n in range(32)]:
            await task
    return (time.process_time() - started) / (WAIT_ROUNDS * 32) * 1e6


async def best_waits() -> dict[str, float]:
    """Each way's best of 15 runs, the ways alternating (a busy machine slows each alike)."""
    from bot import outage

    ways = ["unbounded", "within", *(["grouped"] if hasattr(outage, "grouped") else [])]
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(15):
        for how in ways:
            best[how] = min(best[how], await group_waits(how))
    return best


async def posts(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for label in ("warm-up", "aiohttp"):
            started = time.process_time()
            for _ in range(POSTS):
                timeout = aiohttp.ClientTimeout(total=30)
                async with http.post(url, data=RECEIPT, headers=HEADERS, timeout=timeout) as r:
                    await r.read()
            cpu = (time.process_time() - started) / POSTS * 1e6
            if label == "aiohttp":
                print(f"| `chat.update` with aiohttp's pooled client | {cpu:.1f} |")


def main() -> None:
    print("| step | µs of CPU per call |")
    print("|---|---:|")
    reads()
    per_answer()
    waits = min(asyncio.run(bounded_waits()) for _ in range(3))
    print(f"| a task awaited within a bound (`within`) | {waits:.1f} |")
    for how, cpu in asyncio.run(best_waits()).items():
        print(f"| a group commit's call waited for (`{how}`) | {cpu:.1f} |")
    fake = spawn("fake", {}, Path(tempfile.mkdtemp(prefix="ingest_steps_")) / "fake.log")
    try:
        asyncio.run(posts(fake.url + "/api/chat.update"))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
