"""Which failures the bot reports as the database being away ("couldn't save, please try
again" to the person, "database unavailable" to the operator), and which it doesn't."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from bot.outage import DatabaseUnavailable, within
from storage.engine import unavailable


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
