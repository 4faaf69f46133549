"""When the database goes away: a person's action is answered "couldn't save, please try again"
within a bound, never "saved" and never a stack trace, and the operator gets one line saying what
was not done and why (never who).

``within`` runs a unit of work as a task of its own and waits at most ``seconds`` for it.  A
database that refuses or drops connections fails the work at once; one that stops answering (a
partition) is given up on at the bound.  The task is then cancelled without waiting for it: its
clean-up may itself wait on the dead connection, and the person must not.  A submission given up
on while still queued in the group commit is dropped, never run (``GroupCommit(drop_abandoned)``);
one whose batch was already running and commits after all is recorded once, and the person trying
again is told they have already answered.

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
from typing import TypeVar

from storage.engine import is_sqlite, unavailable

log = logging.getLogger(__name__)

# How long a person's pulse form (opening, submitting, the home page) waits on the database
# before they are told to try again: under Slack's 3-second limit on answering a form, so its
# modal can stay open with the message; far above a healthy answer's (tens of ms at a peak).
PERSON_WAIT = 2.5
# How long a chat command (kudos, ``pulse status``…) waits on a database that stopped answering
COMMAND_WAIT = 10.0
# The operator's line when a bound ran out: the database, or this process, did not get to it
TIMED_OUT = (
    "%s not done: no answer within %g s: the database or this process is too busy or unreachable"
)

T = TypeVar("T")


@dataclass(frozen=True)
class Waits:
    """The bounds for one database.  A SQLite file has no partition to wait out (it fails at
    once, or after its busy timeout when locked), so there a person waits for the answer and a
    slow disk or a busy machine never turns saved answers into "couldn't save"."""

    person: float | None = PERSON_WAIT
    command: float | None = COMMAND_WAIT

    @classmethod
    def of(cls, url: str) -> Waits:
        return cls(None, None) if is_sqlite(url) else cls()


class DatabaseUnavailable(Exception):
    """The database could not be reached, or did not answer in time: nothing was confirmed."""


async def within(seconds: float | None, work: Awaitable[T], what: str) -> T:
    """``work``'s result; ``DatabaseUnavailable`` when the database failed it, or when it took
    longer than ``seconds`` (None: no bound).  ``what`` names the work in the one log line:
    "database unavailable" only when a connection failed, as a process short of CPU also runs
    out of time."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        log.warning(TIMED_OUT, what, seconds)
        raise DatabaseUnavailable(what)
    try:
        return task.result()
    except Exception as error:
        if not unavailable(error):
            raise
        log.warning("database unavailable: %s not done (%s)", what, type(error).__name__)
        raise DatabaseUnavailable(what) from error


def _retrieve(task: asyncio.Task[object]) -> None:
    """A task given up on ends some time later, usually failing on its dead connection: its
    outcome is taken here, so asyncio logs no "exception never retrieved" with a traceback."""
    if not task.cancelled():
        task.exception()
