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
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

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

    ``by``: a call waited for until a deadline.  Its batch's start is the point from which it can
    no longer be dropped, so a caller whose wait runs out is told "not done" (``Expired``) before
    it and "still being done" (``Running``) after it.
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
        self._waiting: list[_Call[Item, Result]] = []
        self._worker: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        return cast(Result, await self._queued(_Call(item, self._future())))

    async def by(self, item: Item, deadline: float | None) -> Result | Running[Result]:
        """``item``'s outcome, waiting until ``deadline`` (the event loop's time; None: no
        bound) in the caller's own task: no task and no second future per call, which is most
        of what a bounded wait costs when every answer waits twice (docs/performance.md).

        Past the deadline with its batch not started, the call is given up on (``Expired``;
        not run when abandoned calls are dropped).  Past it with its batch under way, it can't
        be taken back: the caller gets ``Running``, whose ``outcome`` settles when it ends."""
        loop = asyncio.get_running_loop()
        if deadline is not None and loop.time() >= deadline:
            raise Expired
        call: _Call[Item, Result] = _Call(item, self._future())
        timer = loop.call_at(deadline, call.expire) if deadline is not None else None
        try:
            return cast(Result | Running[Result], await self._queued(call))
        finally:
            if timer is not None:
                timer.cancel()

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def _queued(self, call: _Call[Item, Result]) -> asyncio.Future[Any]:
        self._waiting.append(call)
        if self._worker is None or self._worker.done():
            # a fresh context: the batch serves every caller, so it must not run in (and keep
            # using) the context variables of whichever caller happened to start it
            self._worker = asyncio.get_running_loop().create_task(
                self._drain(), context=contextvars.Context()
            )
        return call.future

    async def _drain(self) -> None:
        while self._waiting:
            if self.drop_abandoned:
                self._waiting = [call for call in self._waiting if not call.future.done()]
                if not self._waiting:
                    return
            batch = self._waiting[: self.limit]
            del self._waiting[: self.limit]
            for call in batch:
                call.begun = True
            outcomes = await self._outcomes([call.item for call in batch])
            for call, outcome in zip(batch, outcomes, strict=True):
                call.settle(outcome)

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


class Expired(Exception):
    """A call's deadline passed before its batch started (``GroupCommit.by``)."""


@dataclass(frozen=True, eq=False)
class Running(Generic[Result]):
    """A call whose deadline passed while its batch was under way: ``outcome`` settles with
    its result (or exception) when the batch ends."""

    outcome: asyncio.Future[Result]


class _Call(Generic[Item, Result]):
    """One caller's item, and the future its caller waits on (replaced by ``expire`` when the
    caller is answered ``Running``, so the batch's outcome still reaches someone)."""

    __slots__ = ("begun", "future", "item")

    def __init__(self, item: Item, future: asyncio.Future[Any]) -> None:
        self.item = item
        self.future = future
        self.begun = False  # its batch has started: it can no longer be dropped

    def expire(self) -> None:
        """The caller's deadline: give up on a call not started (dropped, or its result
        ignored); hand a started one back as ``Running``."""
        waited = self.future
        if waited.done():
            return
        if not self.begun:
            waited.set_exception(Expired())
            return
        self.future = waited.get_loop().create_future()
        waited.set_result(Running(self.future))

    def settle(self, outcome: Result | Exception) -> None:
        if self.future.done():  # the caller went away; its item was still run
            return
        if isinstance(outcome, Exception):
            self.future.set_exception(outcome)
        else:
            self.future.set_result(outcome)
