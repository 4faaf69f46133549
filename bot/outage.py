"""When the database goes away: a person's action is answered "couldn't save, please try again"
within a bound, never "saved" and never a stack trace, and the operator gets one line saying what
was not done and why (never who).

``within`` runs a unit of work as a task of its own and waits at most ``seconds`` for it.  A
database that refuses or drops connections fails the work at once; one that stops answering (a
partition) is given up on at the bound.  The task is then cancelled without waiting for it: its
clean-up may itself wait on the dead connection, and the person must not.  A submission given up
on while still queued in the group commit is dropped, never run (``GroupCommit(drop_abandoned)``).
One whose batch was already running can't be taken back (it may be committing that instant), so
``within_or_running`` leaves it to finish and hands it back (``StillRunning``): the person is told
their answers are still being saved and gets the outcome after (``bot/saving.py``), never a false
"couldn't save".

The operator's line says only what is known.  A refused or dropped connection is the database
being away ("database unavailable: …").  A wait that ran out is not always that: a process short
of CPU (a busy machine, a burst of answers) misses the bound with the database idle, so that line
names both suspects (``TIMED_OUT``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

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


async def within(seconds: float | None, work: Awaitable[T], what: str) -> T:
    """``work``'s result; ``DatabaseUnavailable`` when the database failed it, or when it took
    longer than ``seconds`` (None: no bound).  ``what`` names the work in the one log line:
    "database unavailable" only when a connection failed, as a process short of CPU also runs
    out of time."""
    task = asyncio.ensure_future(work)
    if not await _waited(task, seconds):
        _give_up(task, what, seconds)
    return _result(task, what)


async def within_or_running(
    seconds: float | None, work: Awaitable[T], what: str, started: asyncio.Event
) -> T | StillRunning[T]:
    """As ``within``, except that when the bound runs out after ``started`` was set (the work
    can no longer be dropped, as a group commit's batch under way), the work is left to finish
    and handed back as ``StillRunning``."""
    task = asyncio.ensure_future(work)
    if not await _waited(task, seconds):
        if started.is_set():
            log.warning(STILL_RUNNING, what, seconds)
            return StillRunning(task)
        _give_up(task, what, seconds)
    return _result(task, what)


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
        if not unavailable(error):
            raise
        log.warning("database unavailable: %s not done (%s)", what, type(error).__name__)
        raise DatabaseUnavailable(what) from error
