"""Imports made when first needed (``surveys/lazy.py``: off the event loop, and out of the
garbage collector's full collections in a server), for the adapters, which reach the core
through ``bot/`` only (the Teams adapter loads the Bot Framework SDK so)."""

from surveys.lazy import load, preload

__all__ = ["load", "preload"]
