"""Group commit: calls that arrive together, or while a batch runs, are run together as one batch.

At a pulse's opening peak hundreds of people press Submit within seconds.  Recorded one by one,
each answer pays its own transaction: a BEGIN, a lock on its round's participation row, several
round trips and a commit, and the answers to one round queue behind each other's lock.  Batched,
the answers that queue up while one transaction runs share the next one: one lock per round, one
multi-row insert, one commit.

There is no timer and no waiting for a batch to fill: a call that finds nothing running starts a
batch as soon as the event loop is free (with whatever else was queued in the same tick), so a
lone person waits no longer than before; batches grow only when calls are already queueing.
Each call still gets its own result (or exception), as if it had run alone, and a batch that
fails as a whole is run again one call at a time, so that one bad call cannot fail the others;
except when it failed because the database could not be reached (``storage.engine.unavailable``):
then every call of the batch gets that error at once, as no call of it was to blame, and running
them one by one against a database that is away would hold up every batch queued behind.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from storage.engine import unavailable

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
BATCH_LIMIT = 256


class GroupCommit(Generic[Item, Result]):
    """Runs ``run(items)`` for the calls waiting, one batch at a time.

    ``run`` returns one outcome per item, in order: a result, or an exception to raise to that
    item's caller.  An exception raised by ``run`` itself fails the batch, which is then run again
    one item at a time; ``run`` must therefore leave nothing done when it raises (one transaction).

    ``drop_abandoned``: a call whose caller stopped waiting (cancelled) before its batch started
    is not run.  A person told "couldn't save, please try again" after waiting too long must not
    have those answers saved behind their back; by default such a call is still run (an outcome
    worth recording whether or not anyone waits for it).

    ``started`` (per call): set when the call's batch starts, from when dropping it is no longer
    possible, so a caller whose wait runs out can tell "not done" from "still being done".
    """

    def __init__(
        self,
        run: Callable[[Sequence[Item]], Awaitable[Sequence[Result | Exception]]],
        limit: int = BATCH_LIMIT,
        *,
        drop_abandoned: bool = False,
    ) -> None:
        self.run = run
        self.limit = limit
        self.drop_abandoned = drop_abandoned
        self._waiting: list[tuple[Item, asyncio.Future[Result], asyncio.Event | None]] = []
        self._worker: asyncio.Task[None] | None = None

    async def __call__(self, item: Item, *, started: asyncio.Event | None = None) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future, started))
        if self._worker is None or self._worker.done():
            # a fresh context: the batch serves every caller, so it must not run in (and keep
            # using) the context variables of whichever caller happened to start it
            self._worker = asyncio.get_running_loop().create_task(
                self._drain(), context=contextvars.Context()
            )
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            if self.drop_abandoned:
                self._waiting = [waiting for waiting in self._waiting if not waiting[1].done()]
                if not self._waiting:
                    return
            batch = self._waiting[: self.limit]
            del self._waiting[: self.limit]
            for _, _, started in batch:
                if started is not None:
                    started.set()
            outcomes = await self._outcomes([item for item, _, _ in batch])
            for (_, future, _), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the caller went away; its item was still run
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _outcomes(self, items: list[Item]) -> list[Result | Exception]:
        try:
            return await self._checked(items)
        except Exception as error:
            if len(items) == 1 or unavailable(error):
                return [error] * len(items)
            log.warning("a batch of %d failed; running them one at a time", len(items))
        outcomes: list[Result | Exception] = []
        for item in items:
            try:
                outcomes += await self._checked([item])
            except Exception as error:
                outcomes.append(error)
        return outcomes

    async def _checked(self, items: list[Item]) -> list[Result | Exception]:
        outcomes = list(await self.run(items))
        if len(outcomes) != len(items):
            raise RuntimeError(f"a batch of {len(items)} gave {len(outcomes)} outcomes")
        return outcomes
