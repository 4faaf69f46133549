"""Which failures the bot reports as the database being away ("couldn't save, please try
again" to the person, "database unavailable" to the operator), and which it doesn't."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Sequence

import pytest

from bot.batching import GroupCommit
from bot.outage import (
    DatabaseUnavailable,
    Deadline,
    StillRunning,
    grouped,
    grouped_or_running,
    within,
)
from bot.saving import settled
from bot.views import Receipt, TextReply
from bot.words import NOT_SAVED_AFTER_ALL
from storage.engine import unavailable
from surveys.forms import FieldProblem


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"), True),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), True),
        (OSError(errno.EHOSTUNREACH, "No route to host"), True),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), True),
        (TimeoutError(), True),
        (PermissionError("botbuilder: the app's token was refused"), False),
        (FileNotFoundError(errno.ENOENT, "No such file"), False),
        (ValueError("a fault in the data"), False),
    ],
)
def test_only_a_failure_to_reach_the_database_is_reported_as_an_outage(
    error: BaseException, outage: bool
) -> None:
    """An operator told "database unavailable" looks at the database: a refused platform token
    (a ``PermissionError``, an ``OSError`` too) or a missing file must not be called that."""
    assert unavailable(error) is outage


async def test_a_wait_that_runs_out_blames_no_one_and_a_refused_connection_blames_the_database(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A process short of CPU runs out of time with the database idle: its line must not send
    the operator to the database alone.  A refused connection is the database being away."""
    never = asyncio.Event()
    with pytest.raises(DatabaseUnavailable):
        await within(0.01, never.wait(), "a pulse submission")
    with pytest.raises(DatabaseUnavailable):
        await within(1.0, _refused(), "a home page")
    assert [record.getMessage() for record in caplog.records] == [
        "a pulse submission not done: no answer within 0.01 s: the database or this process is "
        "too busy or unreachable",
        "database unavailable: a home page not done (ConnectionRefusedError)",
    ]


async def _refused() -> None:
    raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")


async def test_work_past_the_point_of_no_return_is_left_to_finish_and_handed_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Work still queued when the bound runs out is dropped (nothing is done behind the
    person's back); work already started is not: it finishes, and its outcome comes after.
    Waited for in the caller's own task, the bound holds the same, and names the wait set."""
    release = asyncio.Event()
    batches: list[list[str]] = []

    async def commit(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        await release.wait()
        return [item.upper() for item in items]

    cards: GroupCommit[str, str] = GroupCommit(commit, drop_abandoned=True)
    running = await grouped_or_running(cards, "saved", Deadline.after(0.01), "a pulse submission")
    assert isinstance(running, StillRunning) and not running.task.done()
    with pytest.raises(DatabaseUnavailable):
        await grouped_or_running(cards, "queued", Deadline.after(0.01), "a pulse submission")
    with pytest.raises(DatabaseUnavailable):  # a look-up's result is no use once given up on
        await grouped(cards, "late", Deadline.after(0.01), "finding a user's email")
    release.set()
    assert await running.task == "SAVED"
    assert await grouped_or_running(cards, "at once", Deadline.after(0.01), "a card") == "AT ONCE"
    assert batches == [["saved"], ["at once"]]
    assert [record.getMessage() for record in caplog.records] == [
        "a pulse submission still running after 0.01 s: left to finish, its outcome shown when "
        "known",
        "a pulse submission not done: no answer within 0.01 s: the database or this process is "
        "too busy or unreachable",
        "finding a user's email not done: no answer within 0.01 s: the database or this process "
        "is too busy or unreachable",
    ]


async def test_a_refused_connection_in_a_group_commit_blames_the_database(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refused(items: Sequence[str]) -> list[str]:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")

    with pytest.raises(DatabaseUnavailable):
        await grouped(GroupCommit(refused), "x", Deadline.after(None), "a home page")
    assert [record.getMessage() for record in caplog.records] == [
        "database unavailable: a home page not done (ConnectionRefusedError)"
    ]


async def test_the_outcome_after_still_saving_names_its_pulse_and_says_what_happened() -> None:
    """Shown after the form has gone: a failure is "try again" (nothing was confirmed), and a
    form refused in the batch says every problem in its words (no field is left to mark)."""

    async def failing() -> Receipt | TextReply:
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    async def refused() -> Receipt | TextReply:
        return TextReply("Please answer all.", kind="error", problems=(FieldProblem("q1", "Pick"),))

    async def receipt() -> Receipt | TextReply:
        return Receipt(7, "Ward A", "Thank you")

    said = TextReply(NOT_SAVED_AFTER_ALL, kind="error", retry=True, round_id=7)
    assert await settled(failing(), 7) == said
    assert await settled(refused(), 7) == TextReply("Please answer all.\nPick", "error", round_id=7)
    assert await settled(receipt(), 7) == Receipt(7, "Ward A", "Thank you")
