"""Which failures the bot reports as the database being away ("couldn't save, please try
again" to the person, "database unavailable" to the operator), and which it doesn't."""

from __future__ import annotations

import errno
import socket

import pytest

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
