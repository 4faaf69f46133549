"""Draining a queue of outbox rows: claim, send a bounded number at once, until none is left.

Shared by the pulse cards (``bot/outbox.py``) and the reminders (``bot/reminders.py``): each gives
a ``Pipe`` (how to claim rows, send one, give back those never started)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Job = TypeVar("Job")


@dataclass(frozen=True)
class Pipe(Generic[Job]):
    """What ``drain`` claims and sends.  ``claim(n)`` claims up to ``n`` rows (committed) and
    gives how many it claimed and the jobs to send; ``release`` gives back jobs claimed but
    never started.  With a ``release``, rows are claimed ahead of need, ``width`` at a time."""

    claim: Callable[[int], Awaitable[tuple[int, list[Job]]]]
    send: Callable[[Job], Awaitable[int]]
    release: Callable[[list[Job]], Awaitable[None]] | None = None

    def wanted(self, width: int, ready: int, in_flight: int) -> int:
        """How many rows to claim now (0: none).  Without a ``release`` no row is claimed
        ahead of a free slot, but none is claimed for a lone free slot either: a claim waits
        until half the slots are free, so its transaction and its checks (reminders: are new
        cards waiting, who has answered) are paid once per half a window, not once per send."""
        if self.release is None:
            free = width - in_flight
            return free if 2 * free >= width else 0
        return width if ready < width else 0


async def drain(width: int, pipe: Pipe[Job]) -> int:
    """Keep up to ``width`` sends in flight until no row is due.  A pipe that can give rows back
    is claimed ahead, ``width`` rows at a time, so a claim's transaction is paid once per
    ``width`` sends (up to ``2 * width - 1`` claimed rows wait their turn); otherwise once half
    the slots are free.  Cancelled, it cancels its sends (their rows are left to their lease)
    and gives back the rows it never started."""
    in_flight: set[asyncio.Task[int]] = set()
    ready: deque[Job] = deque()
    sent = 0
    more = True
    try:
        while True:
            wanted = pipe.wanted(width, len(ready), len(in_flight)) if more else 0
            if wanted > 0:
                try:
                    count, jobs = await pipe.claim(wanted)
                except Exception:  # the sends in flight still finish and record their outcome
                    log.warning("claiming outbox rows failed; the next wake tries again")
                    count, jobs = 0, []
                more = count == wanted
                ready.extend(jobs)
            while ready and len(in_flight) < width:
                in_flight.add(asyncio.ensure_future(pipe.send(ready.popleft())))
            if not in_flight:
                if more:  # every row claimed was settled without a send: claim again
                    continue
                return sent
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            sent += sum(task.result() for task in done)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        if ready and pipe.release is not None:
            await give_back(pipe.release, list(ready))


async def give_back(release: Callable[[list[Job]], Awaitable[None]], jobs: list[Job]) -> None:
    try:
        await release(jobs)
    except Exception:  # they wait for their lease instead
        log.warning("claimed outbox rows not given back; their lease will run out")
