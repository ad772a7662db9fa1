"""Where stored answers live: one small protocol and the in-memory backend.

Approach: a backend maps a key (64 hex digits) to opaque bytes with an
optional time to live, nothing more; the cache above it owns the entry
format. Partitions serve the semantic cache: an entry may name one
(namespace + model + settings + conversation prefix), and ``partition``
lists that partition's newest keys, at most ``limit`` of them, so a
similarity search is brute force over a bounded set. The memory backend is
an LRU bounded both in entries and in bytes, with TTLs checked on read
against an injected clock (so tests never sleep).

Two optional extras, found by name: ``a``-prefixed coroutine twins
(``aget``, ``aset``, ...) that the async paths await instead of running the
sync method in a worker thread, and leases (``acquire_lease``,
``renew_lease``, ``release_lease``, and ``set(..., lease=token)`` writing
an answer and releasing its lease together) for coalescing calls across
processes; ``RedisBackend`` has both.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["MemoryBackend", "ResponseBackend"]


@runtime_checkable
class ResponseBackend(Protocol):
    """Storage for response-cache entries (bytes under string keys)."""

    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or ``None`` when absent or expired."""

    def set(self, key: str, value: bytes, *, ttl: float | None, partition: str | None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when absent)."""

    def partition(self, name: str, limit: int) -> list[str]:
        """The newest keys (at most ``limit``) stored with ``partition=name``."""

    def clear(self) -> None:
        """Forget every entry."""

    def close(self) -> None:
        """Release connections and files."""


class MemoryBackend:
    """An in-process LRU with TTLs, bounded in entries and in bytes.

    Args:
        max_entries: entries kept before the least recently used is evicted.
        max_bytes: total size of stored values kept before evicting.
        clock: seconds as a float (``time.monotonic`` by default).

    Raises:
        ValueError: a bound is not a positive int.

    >>> b = MemoryBackend(max_entries=2)
    >>> for k in "abc":
    ...     b.set(k, k.encode(), ttl=None, partition=None)
    >>> b.get("a"), b.get("c")
    (None, b'c')
    """

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (value, expires_at or None, partition or None)
        self._items: OrderedDict[str, tuple[bytes, float | None, str | None]] = OrderedDict()
        self._parts: dict[str, OrderedDict[str, None]] = {}
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        """Total bytes of the values held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> bytes | None:
        """The value under ``key`` (refreshing its recency), or ``None``."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[1] is not None and self._clock() >= item[1]:
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return item[0]

    def set(self, key: str, value: bytes, *, ttl: float | None, partition: str | None) -> None:
        """Store ``value``; evict least recently used entries past the bounds."""
        if len(value) > self.max_bytes:
            return  # larger than the whole cache: storing it would evict everything
        expires = None if ttl is None else self._clock() + ttl
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = (value, expires, partition)
            self._bytes += len(value)
            if partition is not None:
                self._parts.setdefault(partition, OrderedDict())[key] = None
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        value, _, partition = self._items.pop(key)
        self._bytes -= len(value)
        if partition is not None:
            keys = self._parts[partition]
            keys.pop(key, None)
            if not keys:
                del self._parts[partition]

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            if key in self._items:
                self._drop(key)

    def partition(self, name: str, limit: int) -> list[str]:
        """The newest ``limit`` keys of partition ``name``, newest first."""
        with self._lock:
            keys = self._parts.get(name)
            if not keys:
                return []
            out: list[str] = []
            for key in reversed(keys):
                if len(out) >= limit:
                    break
                out.append(key)
            return out

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._parts.clear()
            self._bytes = 0

    def close(self) -> None:
        """Nothing to release."""
