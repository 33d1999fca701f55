"""``metta.agent.policy_cache``: a thread-safe LRU of loaded policy records."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import compat
from compat.deprecations import POLICY_CACHE

__all__ = ["PolicyCache"]


@compat.deprecated(POLICY_CACHE)
class PolicyCache:
    """At most ``max_size`` records; a ``get`` or ``put`` makes its key the most recent."""

    def __init__(self, max_size: int = 10) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self._max_size = max_size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: str, record: Any) -> None:
        with self._lock:
            self._items[key] = record
            self._items.move_to_end(key)
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
