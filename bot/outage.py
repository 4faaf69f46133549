"""When the database goes away: a person's action is answered "couldn't save, please try again"
within a bound, never "saved" and never a stack trace, and the operator gets one line saying what
was not done and why (never who).

``within`` runs a unit of work as a task of its own and waits at most ``seconds`` for it.  A
database that refuses or drops connections fails the work at once; one that stops answering (a
partition) is given up on at the bound.  The task is then cancelled without waiting for it: its
clean-up may itself wait on the dead connection, and the person must not.

A call of a group commit (``bot/batching.py``) holds no connection in its caller: the batch does,
in a task of its own.  So ``grouped`` waits for one in the caller's own task, until a
``Deadline``, with no task and no second future (every answer waits twice, for its person's email
and for its card: docs/performance.md, "Fewer tasks per answer").  A submission given up on while
still queued is dropped, never run (``GroupCommit(drop_abandoned)``).  One whose batch was already
running can't be taken back (it may be committing that instant), so ``grouped_or_running`` leaves
it to finish and hands it back (``StillRunning``): the person is told their answers are still
being saved and gets the outcome after (``bot/saving.py``), never a false "couldn't save".

The operator's line says only what is known.  A refused or dropped connection is the database
being away ("database unavailable: …").  A wait that ran out is not always that: a process short
of CPU (a busy machine, a burst of answers) misses the bound with the database idle, so that line
names both suspects (``TIMED_OUT``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, NoReturn, TypeVar

from bot.batching import Expired, GroupCommit, Running
from storage.engine import is_sqlite, unavailable
from storage.uncut import retrieve

log = logging.getLogger(__name__)

# How long a person's pulse form (opening, submitting, the home page) waits on the database
# before they are told to try again: under Slack's 3-second limit on answering a form, so its
# modal can stay open with the message; far above a healthy answer's (tens of ms at a peak).
# (``TEAMPULSE_PERSON_WAIT`` sets it.)
PERSON_WAIT = 2.5
# How long a chat command (kudos, ``pulse status``…) waits on a database that stopped answering
COMMAND_WAIT = 10.0
# The operator's line when a bound ran out: the database, or this process, did not get to it
TIMED_OUT = (
    "%s not done: no answer within %g s: the database or this process is too busy or unreachable"
)
# ... and when the work had gone too far to be dropped: it is left to finish
STILL_RUNNING = "%s still running after %g s: left to finish, its outcome shown when known"

T = TypeVar("T")
U = TypeVar("U")
Item = TypeVar("Item")


@dataclass(frozen=True)
class Waits:
    """The bounds for one database.  A SQLite file has no partition to wait out (it fails at
    once, or after its busy timeout when locked), so there a person waits for the answer and a
    slow disk or a busy machine never turns saved answers into "couldn't save"."""

    person: float | None = PERSON_WAIT
    command: float | None = COMMAND_WAIT

    @classmethod
    def of(cls, url: str, person: float = PERSON_WAIT) -> Waits:
        return cls(None, None) if is_sqlite(url) else cls(person)


class DatabaseUnavailable(Exception):
    """The database could not be reached, or did not answer in time: nothing was confirmed."""


@dataclass(frozen=True, eq=False)
class StillRunning(Generic[T]):
    """Work whose bound ran out once it was past the point of being dropped (its commit under
    way): left to finish; ``task`` gives its outcome, or raises what failed it."""

    task: asyncio.Future[T]

    def then(self, after: Callable[[asyncio.Future[T]], Coroutine[Any, Any, U]]) -> StillRunning[U]:
        """The same work, its outcome taken on by ``after`` (in a task: this is rare)."""
        return StillRunning(asyncio.ensure_future(after(self.task)))


class Deadline(NamedTuple):
    """A person's wait as a point in the event loop's time (``at``; None: no bound), shared by
    the steps of one request; ``seconds`` is the wait as configured, for the log line.  (A
    tuple: made for every answer, where a frozen dataclass costs several times as much.)"""

    seconds: float | None
    at: float | None

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        at = None if seconds is None else asyncio.get_running_loop().time() + seconds
        return cls(seconds, at)

    def left(self) -> float | None:
        """The time still left (None: no bound)."""
        if self.at is None:
            return None
        return max(0.0, self.at - asyncio.get_running_loop().time())


async def within(seconds: float | Deadline | None, work: Awaitable[T], what: str) -> T:
    """``work``'s result; ``DatabaseUnavailable`` when the database failed it, or when it took
    longer than ``seconds`` (None: no bound; a ``Deadline``: the time it has left).  ``what``
    names the work in the one log line: "database unavailable" only when a connection failed,
    as a process short of CPU also runs out of time."""
    wait, said = (
        (seconds.left(), seconds.seconds) if isinstance(seconds, Deadline) else (seconds,) * 2
    )
    task = asyncio.ensure_future(work)
    if not await _waited(task, wait):
        _give_up(task, what, said)
    return _result(task, what)


async def grouped(commit: GroupCommit[Item, T], item: Item, by: Deadline, what: str) -> T:
    """As ``within``, for a call of a group commit waited for in the caller's own task (see the
    module's docstring); one still running at ``by`` is given up on too (its result unused)."""
    found = await _by(commit, item, by, what)
    if isinstance(found, Running):
        found.outcome.add_done_callback(retrieve)
        log.warning(TIMED_OUT, what, by.seconds)
        raise DatabaseUnavailable(what)
    return found


async def grouped_or_running(
    commit: GroupCommit[Item, T], item: Item, by: Deadline, what: str
) -> T | StillRunning[T]:
    """As ``grouped``, except that a call whose batch was under way at ``by`` (it can no longer
    be dropped) is left to finish and handed back as ``StillRunning``."""
    found = await _by(commit, item, by, what)
    if isinstance(found, Running):
        log.warning(STILL_RUNNING, what, by.seconds)
        return StillRunning(found.outcome)
    return found


async def _by(commit: GroupCommit[Item, T], item: Item, by: Deadline, what: str) -> T | Running[T]:
    try:
        return await commit.by(item, by.at)
    except Expired:
        log.warning(TIMED_OUT, what, by.seconds)
        raise DatabaseUnavailable(what) from None
    except Exception as error:
        _unavailable(error, what)
        raise


async def _waited(task: asyncio.Future[T], seconds: float | None) -> bool:
    """Whether ``task`` ended within ``seconds``; a caller cancelled meanwhile cancels it.
    (``asyncio.wait({task}, timeout=seconds)``, with one future and one timer: each answer
    waits here twice, and ``asyncio.wait``'s sets and checks were most of that.)"""
    if task.done():
        return True
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(*_: object) -> None:
        if not woken.done():
            woken.set_result(None)

    task.add_done_callback(wake)
    timer = loop.call_later(seconds, wake) if seconds is not None else None
    try:
        await woken
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        task.remove_done_callback(wake)
    return task.done()


def _give_up(task: asyncio.Task[T], what: str, seconds: float | None) -> NoReturn:
    """The task is cancelled without waiting for it (see the module's docstring)."""
    task.cancel()
    task.add_done_callback(retrieve)
    log.warning(TIMED_OUT, what, seconds)
    raise DatabaseUnavailable(what)


def _result(task: asyncio.Task[T], what: str) -> T:
    try:
        return task.result()
    except Exception as error:
        _unavailable(error, what)
        raise


def _unavailable(error: Exception, what: str) -> None:
    """``DatabaseUnavailable`` (and its one line) for an error that is the database being away;
    nothing for any other (the caller raises it as it is)."""
    if unavailable(error):
        log.warning("database unavailable: %s not done (%s)", what, type(error).__name__)
        raise DatabaseUnavailable(what) from error
