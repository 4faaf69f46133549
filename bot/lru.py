"""A bounded, least-recently-used cache (the platforms' accounts, organisations' people)."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")
CACHE_SIZE = 20_000  # a large trust's staff


class LRU(OrderedDict[Key, Value]):
    """A dict that forgets its least recently remembered entries beyond ``capacity``."""

    def __init__(self, capacity: int = CACHE_SIZE) -> None:
        super().__init__()
        self.capacity = capacity

    def remember(self, key: Key, value: Value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)
