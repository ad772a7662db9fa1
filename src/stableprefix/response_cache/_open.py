"""Pick a response-cache backend from a URL (the same forms as the stores)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .._backends import parse_url
from ._backend import MemoryBackend, ResponseBackend

__all__ = ["open_backend"]


def open_backend(
    url: str,
    *,
    max_entries: int = 10_000,
    max_bytes: int = 256 * 1024 * 1024,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[ResponseBackend, float | None]:
    """The backend ``url`` names, and the URL's ``ttl`` option.

    Args:
        url: ``memory://``, ``sqlite:///path.db`` or ``redis://host:port/db``
            (``?prefix=`` and ``?timeout=`` apply to Redis and SQLite).
        max_entries: bound of the memory backend.
        max_bytes: bound of the memory backend.
        clock: the memory backend's clock.

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: the URL is malformed or its scheme unknown.
        ImportError: a Redis URL without the redis package installed.

    >>> type(open_backend("memory://?ttl=60")[0]).__name__, open_backend("memory://?ttl=60")[1]
    ('MemoryBackend', 60.0)
    """
    parsed = parse_url(url)
    if parsed.scheme == "sqlite":
        from ._sqlite import SQLiteBackend

        if parsed.timeout is None:
            return SQLiteBackend(parsed.path), parsed.ttl
        return SQLiteBackend(parsed.path, timeout=parsed.timeout), parsed.ttl
    if parsed.is_redis:
        from ._redis import RedisBackend

        prefix = {} if parsed.prefix is None else {"prefix": parsed.prefix}
        return RedisBackend(parsed.client_url, timeout=parsed.timeout, **prefix), parsed.ttl
    return MemoryBackend(max_entries=max_entries, max_bytes=max_bytes, clock=clock), parsed.ttl
