"""``column IN (values)`` whose statement is the same text whatever the number of values.

SQLAlchemy writes ``IN`` with one placeholder per value, so every batch size is a new statement
to PostgreSQL: asyncpg prepares each new text before running it (a round trip of its own), and
keeps only the latest hundred per connection.  On the group commit's path, where batches of any
size from 1 to 256 follow each other, most statements were prepared afresh.  On PostgreSQL the
values go as one array instead (``column = ANY($1)``): one text, prepared once per connection.
SQLite keeps ``IN`` (it has no arrays, and prepares nothing across round trips).

``one_of`` binds its values into the clause.  ``any_of`` names the values instead, given when
the statement runs (``params={name: distinct(values)}``): a statement built from it can be built
once (``@cache``, one per database kind) and run again and again.  On the answer's path building
a statement, and SQLAlchemy working out its cache key, cost more CPU than running it
(docs/performance.md, "Statements built once")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import on_postgresql


def one_of(session: AsyncSession, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column`` is one of ``values`` (in a statement run in ``session``)."""
    wanted = distinct(values)
    if on_postgresql(session):
        array = bindparam(None, wanted, type_=ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(wanted)  # type: ignore[no-any-return]


def any_of(column: Any, name: str, postgresql: bool) -> ColumnElement[bool]:
    """``column`` is one of the values given as ``name`` when the statement runs (a list, of
    at least one value: ``distinct``), on PostgreSQL (``postgresql``) or SQLite."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def distinct(values: Iterable[Any]) -> list[Any]:
    """``values`` without repeats, in their order (what ``any_of``'s parameter takes)."""
    return list(dict.fromkeys(values))
