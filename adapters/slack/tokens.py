"""The bot token bound in this context (many workspaces, OAuth): which workspace the shared
client's calls go to.  Apart from ``oauth.py`` so that the directory (``identity.py``), which a
one-workspace server builds at start-up, needs none of Bolt's OAuth modules (docs/performance.md,
"Start-up and footprint")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

BOT_TOKEN: ContextVar[str | None] = ContextVar("slack_bot_token", default=None)


def bound_token() -> str | None:
    """The bot token calls on the shared client use here (None: the client's own, one workspace)."""
    return BOT_TOKEN.get()


@contextmanager
def bound(token: str) -> Iterator[None]:
    """Calls on the shared client inside this block use ``token``."""
    reset = BOT_TOKEN.set(token)
    try:
        yield
    finally:
        BOT_TOKEN.reset(reset)
