"""Credentials at rest: columns that hold a platform's tokens are stored sealed (Fernet:
AES-128-CBC with HMAC-SHA256, a random IV per value), so someone holding the database's files, its
log (SQLite's ``-wal``, PostgreSQL's ``pg_wal``) or a dump finds no usable token.

``Sealer`` holds the keys (a ``MultiFernet``: the first seals, every one opens, so keys can be
rotated); ``Sealed`` is the column type that seals on the way in and opens on the way out, so the
code above reads and writes plain tokens.  ``reseal`` seals what an older version stored in plain
text and, asked to, moves every sealed value to the newest key (``teampulse secrets rotate``).

The credential columns are listed here (``CREDENTIAL_COLUMNS``) by table and column name only, so
the command line can reseal them without loading a platform's SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Dialect, Text, TypeDecorator, column, inspect, select, table, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Where stored credentials live: Slack's installation store (slack_sdk's tables, one row per
# install).  Teams keeps none: its app password stays in the environment and its tokens in memory.
CREDENTIAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "slack_bots": ("bot_token", "bot_refresh_token"),
    "slack_installations": (
        "bot_token",
        "bot_refresh_token",
        "user_token",
        "user_refresh_token",
        "incoming_webhook_url",
    ),
}

# Every Fernet token starts with its version byte 0x80, ``gAAAAA`` in base64; no platform token
# does (Slack's start ``xox``), so a stored value is told apart without trying to open it.
SEALED_PREFIX = "gAAAAA"


class CredentialUnreadable(RuntimeError):
    """A sealed value none of the keys opens (a key was dropped too early, or the wrong one set)."""


class Sealer:
    """Seal with the first key, open with any (newest first)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, stored: str) -> str:
        """The plain value; a value stored before sealing existed comes back as it is (``reseal``
        seals it at start-up)."""
        if not is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise CredentialUnreadable(
                "A stored credential can't be opened with the keys configured (TEAMPULSE_"
                "ENCRYPTION_KEYS, TEAMPULSE_SECRET): a key it was sealed with is missing."
            ) from None

    def rotate(self, stored: str) -> str:
        """The value sealed under the newest key (a plain one is sealed)."""
        if not is_sealed(stored):
            return self.seal(stored)
        try:
            return self._fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            self.open(stored)  # raises CredentialUnreadable, saying why
            raise


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


class Sealed(TypeDecorator[str]):
    """A text column whose values are sealed in the database and plain in Python."""

    impl = Text
    cache_ok = True

    def __init__(self, sealer: Sealer) -> None:
        super().__init__()
        self.sealer = sealer

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.sealer.seal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.sealer.open(str(value))


def seal_columns(tables: Sequence[Any], sealer: Sealer) -> None:
    """Give the credential columns of these SQLAlchemy ``Table``s the ``Sealed`` type (before any
    statement uses them; a new table is then created with text columns, long enough for a
    sealed value)."""
    for each in tables:
        for name in CREDENTIAL_COLUMNS.get(each.name, ()):
            if name in each.c:
                each.c[name].type = Sealed(sealer)


@dataclass
class Resealed:
    sealed: int = 0  # plain values sealed
    rotated: int = 0  # sealed values moved to the newest key


async def reseal(engine: AsyncEngine, sealer: Sealer, *, rotate: bool = False) -> Resealed:
    """Seal every credential still stored in plain text; with ``rotate``, also move every sealed
    one to the newest key.  One transaction; tables not created yet are skipped.  On PostgreSQL a
    ``varchar`` column (slack_sdk's own, 200 characters) is widened to text first."""
    done = Resealed()
    async with engine.begin() as connection:
        present = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        for name, columns in CREDENTIAL_COLUMNS.items():
            if name in present:
                await _widen(connection, name, columns)
                await _reseal_table(connection, name, columns, sealer, rotate, done)
    return done


async def _widen(connection: AsyncConnection, name: str, columns: Sequence[str]) -> None:
    if connection.dialect.name != "postgresql":
        return  # SQLite's text has no length
    described = await connection.run_sync(lambda sync: inspect(sync).get_columns(name))
    for described_column in described:
        if described_column["name"] in columns and not isinstance(described_column["type"], Text):
            await connection.exec_driver_sql(
                f'ALTER TABLE "{name}" ALTER COLUMN "{described_column["name"]}" TYPE text'
            )


async def _reseal_table(
    connection: AsyncConnection,
    name: str,
    columns: Sequence[str],
    sealer: Sealer,
    rotate: bool,
    done: Resealed,
) -> None:
    plain = table(name, column("id"), *(column(each) for each in columns))
    rows = (await connection.execute(select(plain).with_for_update())).mappings().all()
    for row in rows:
        changes: dict[str, str] = {}
        for each in columns:
            value = row[each]
            if value is None or (is_sealed(value) and not rotate):
                continue
            changes[each] = sealer.rotate(value)
            if is_sealed(value):
                done.rotated += 1
            else:
                done.sealed += 1
        if changes:
            await connection.execute(update(plain).where(plain.c.id == row["id"]).values(**changes))
