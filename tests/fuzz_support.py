"""Shared by the fuzz tests (``tests/test_fuzz_*.py``) and ``bench/fuzz.py``: hostile values and
mutations of real payloads (fields dropped or retyped, deep nesting, huge numbers, lone
surrogates), and a dump of every table to show that a refused request changed nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

Json = Any
T = TypeVar("T")


def register_fuzz_profiles() -> None:
    """The fuzz tests' Hypothesis profiles (registered by ``tests/conftest.py``): ``fuzz-ci``, 60
    examples per entry point, what CI runs; ``fuzz-thorough``, 1,000 (set
    ``TEAMPULSE_FUZZ_PROFILE=fuzz-thorough``).  ``bench/fuzz.py`` runs 10,000 against a server."""
    common: dict[str, Any] = {
        "deadline": None,
        "database": None,
        "suppress_health_check": [
            HealthCheck.function_scoped_fixture,  # (one server serves every example)
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    }
    settings.register_profile("fuzz-ci", max_examples=60, **common)
    settings.register_profile("fuzz-thorough", max_examples=1000, **common)


register_fuzz_profiles()
Path = tuple[str | int, ...]

# -- hostile values --------------------------------------------------------------------------
SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff\udc00\ud800"])
HUGE = st.sampled_from([10**30, -(10**30), 2**63, 2**31, -1, 0, 10**4000, 1e308, -0.0, 1.5])
ODD_TEXT = st.one_of(
    st.text(max_size=40),
    SURROGATES,
    st.sampled_from(["", " ", "\x00", "<!channel>", "/pulse", "U" * 300, "9" * 5000, "💥" * 50]),
)


def nested(depth: int, leaf: Json = 1) -> Json:
    value: Json = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


SCALARS = st.one_of(
    st.none(), st.booleans(), HUGE, st.integers(), st.floats(allow_nan=False), ODD_TEXT
)
ODD_VALUES: st.SearchStrategy[Json] = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=4),
    st.dictionaries(ODD_TEXT, SCALARS, max_size=4),
    st.integers(min_value=20, max_value=200).map(nested),
)
JSON_VALUES: st.SearchStrategy[Json] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner),
    max_leaves=20,
)


# -- mutations of real payloads --------------------------------------------------------------
def paths(value: Json, prefix: Path = ()) -> list[Path]:
    """Every place in a JSON value (the root included)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def _replace(value: Json, path: Path, change: Callable[[Json], Json | None]) -> Json:
    """A copy of ``value`` with the thing at ``path`` changed (``None`` back: removed)."""
    if not path:
        return change(value)
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    child = _replace(copy[head], rest, change)  # type: ignore[index]
    if child is _DROP:
        del copy[head]  # type: ignore[arg-type]
    else:
        copy[head] = child  # type: ignore[index]
    return copy


_DROP = object()


@st.composite
def mutated(draw: st.DrawFn, base: Json, most: int = 3) -> Json:
    """``base`` with 1 to ``most`` changes (a field dropped, retyped to any odd value, or, for
    a string, made odd text), then maybe one part of it nested deep."""
    value = base
    for _ in range(draw(st.integers(1, most))):
        path = draw(st.sampled_from(paths(value)))
        how = draw(st.sampled_from(["drop", "retype", "text"] if path else ["retype"]))
        if how == "drop":
            value = _replace(value, path, lambda _old: _DROP)
        else:
            new = draw(ODD_VALUES if how == "retype" else ODD_TEXT)
            value = _replace(value, path, lambda _old, new=new: new)
    if draw(st.integers(0, 4)) == 0:
        path = draw(st.sampled_from(paths(value)))
        depth = draw(st.integers(30, 2000))
        value = _replace(value, path, lambda old, depth=depth: nested(depth, old))
    return value


def dumps(value: Json) -> str:
    """JSON as a client would send it (``\\ud800`` escaped); deep values too."""
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        return json.dumps(value)
    finally:
        sys.setrecursionlimit(limit)


# -- work a request leaves running -----------------------------------------------------------
async def settled(request: Awaitable[T], wait: float = 30) -> T:
    """``request``'s result, once the tasks it started in this process (Bolt's lazy listeners,
    a receipt sent after the ack) have finished too, so the next request's "before" is not
    moved by this one's work after its answer (the server runs in this event loop)."""
    before = asyncio.all_tasks()
    result = await request
    started = {
        task
        for task in asyncio.all_tasks() - before - {asyncio.current_task()}
        if not _serves_a_connection(task)
    }
    if started:
        await asyncio.wait(started, timeout=wait)
    return result


def _serves_a_connection(task: asyncio.Task[Any]) -> bool:
    """aiohttp's task for a new keep-alive connection: it lives as long as the connection."""
    return "RequestHandler" in getattr(task.get_coro(), "__qualname__", "")


# -- the database, whole ---------------------------------------------------------------------
async def dump(engine: AsyncEngine) -> dict[str, list[str]]:
    """Every row of every table, as text, sorted (order of rows is no change)."""
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        tables: dict[str, list[str]] = {}
        for name in sorted(names):
            rows = (await connection.execute(text(f'SELECT * FROM "{name}"'))).all()
            tables[name] = sorted(repr(tuple(row)) for row in rows)
    return tables


def changed(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The tables whose rows differ."""
    return [
        name for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)
    ]
