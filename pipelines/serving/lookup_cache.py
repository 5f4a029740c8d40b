"""A bounded least-recently-used cache whose entries also expire, for online feature lookups.

cachetools' ``TLRUCache`` would do; it is not a dependency, and this is 40 lines of OrderedDict.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_MISSING = object()


class ExpiringLru(Generic[K, V]):
    """At most ``size`` entries; each is dropped at its expiry time (``now`` is the caller's clock,
    so tests and the server agree on time) or when least recently used and the cache is full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, now: float) -> tuple[bool, V | None]:
        """(found, value): found is False for an absent or expired entry."""
        with self._lock:
            entry = self._entries.get(key, _MISSING)
            if entry is _MISSING:
                return False, None
            expires, value = entry  # type: ignore[misc]
            if expires <= now:
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, value

    def put(self, key: K, value: V, expires: float) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["ExpiringLru"]
