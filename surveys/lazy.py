"""Libraries imported when first needed, not when the server starts.

SciPy's special functions (a report's Welch test) and matplotlib (its chart) take about 1.5 s of
CPU and 55 MB to import together; a server that has only started needs none of them
(docs/performance.md, "Start-up and footprint").  A server puts everything it built at start-up
out of the garbage collector's sight (``gc.freeze``, ``bot/cli.py``); in such a process what a
late import builds (~100,000 long-lived objects) is frozen too, or each full collection would
scan it again, stalling every request in flight for tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
from typing import Any

_PRELOADED: set[str] = set()


def load(module: str) -> Any:
    """``module``, imported now if it is not yet (the libraries above ship no types)."""
    first = module not in sys.modules
    loaded = importlib.import_module(module)  # (waits for a thread that is importing it)
    if first and gc.get_freeze_count():  # (a process that froze its heap: any that imported
        # bot.cli, which freezes what its imports built, and a server once started)
        gc.freeze()  # once per module: freezing also keeps in-flight garbage, so not every call
    return loaded


async def preload(module: str) -> None:
    """``load`` in a thread the first time, so its import (a second or more) holds up neither
    the event loop nor a lock or transaction the caller is about to take."""
    if module not in _PRELOADED:
        await asyncio.to_thread(load, module)
        _PRELOADED.add(module)


def preloaded(module: str) -> bool:
    """Whether ``preload(module)`` has finished in this process (it then returns at once)."""
    return module in _PRELOADED
