"""Answers still being saved: the truth when a person's wait runs out mid-commit, then the outcome.

A person's pulse form waits at most ``TEAMPULSE_PERSON_WAIT`` on the database (``bot/outage.py``).
When that runs out while their card is still queued in the group commit, the card is dropped and
they are told "couldn't save, please try again": true, nothing was done.  When it runs out while
their card's batch is already running (a process short of CPU, a slow commit), the batch can't be
taken back: it may be committing that instant.  Telling them "couldn't save" would be false when
it commits (their second try then says "already answered").  So the core answers ``StillSaving``:
every platform shows its words (``STILL_SAVING``) where the form was answered, and shows the
outcome once it is known (``then``): the receipt in the pulse's place, as a prompt one is, or, if
the batch failed after all, "couldn't save after all, please try again" (``NOT_SAVED_AFTER_ALL``)
with the pulse still there to answer.

The operator's lines name the work, never the person (nothing about them beside an answer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from bot.views import Receipt, TextReply
from bot.words import NOT_SAVED_AFTER_ALL, STILL_SAVING

log = logging.getLogger(__name__)

Outcome = Receipt | TextReply
Show = Callable[[Outcome], Awaitable[None]]
# how long a stopping server lets outcomes still being saved reach their people
DRAIN_SECONDS = 10.0


class FollowUps:
    """The work still to do for people told their answers are still being saved: held here (a
    task nobody holds may be collected mid-flight), and given a while to finish on shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Outcome | None]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        """Wait (at most ``seconds``) for what is under way to be shown."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=seconds)


@dataclass(frozen=True, eq=False)
class StillSaving:
    """A pulse card whose commit was under way when its person's wait ran out: ``text`` to show
    now, in the form's place; ``then`` shows the outcome (a ``Receipt``, or a ``TextReply``
    naming the round) once it is known."""

    round_id: int
    outcome: asyncio.Future[Outcome]
    follow_ups: FollowUps
    text: str = STILL_SAVING

    @property
    def notice(self) -> TextReply:
        return TextReply(self.text, round_id=self.round_id)

    def then(self, show: Show) -> None:
        """Run ``show`` with the outcome once it is known (a platform's failure to show it is
        logged, without the person)."""
        self.follow_ups.start(self._shown(show))

    async def _shown(self, show: Show) -> None:
        outcome = await self.outcome
        try:
            await show(outcome)
        except Exception as error:  # (the answers' fate is settled; only its display failed)
            log.warning(
                "could not show a pulse's outcome after 'still saving' (%s)", type(error).__name__
            )


def still_saving(
    running: asyncio.Future[Outcome], round_id: int, follow_ups: FollowUps
) -> StillSaving:
    """The answer for a card left to finish (``outage.StillRunning``'s task)."""
    outcome = follow_ups.start(settled(running, round_id))
    return StillSaving(round_id, outcome, follow_ups)


async def settled(running: Awaitable[Outcome], round_id: int) -> Outcome:
    """The card's outcome, as a view to show after the form: the receipt, or words naming the
    round (a batch that failed after all left nothing saved: "try again")."""
    try:
        outcome = await running
    except Exception as error:
        log.warning(
            "a pulse submission still being saved failed after all (%s): nothing was saved, "
            "its person is told to try again",
            type(error).__name__,
        )
        return TextReply(NOT_SAVED_AFTER_ALL, kind="error", retry=True, round_id=round_id)
    if isinstance(outcome, Receipt):
        return outcome
    # a form refused in the batch can't be marked field by field any more: its words say all
    said = "\n".join([outcome.text, *(problem.text for problem in outcome.problems)])
    return replace(outcome, text=said, problems=(), round_id=round_id)
