"""Pick a response-cache backend from a URL (the same forms as the stores)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ._backend import MemoryBackend, ResponseBackend

__all__ = ["open_backend"]


def open_backend(
    url: str,
    *,
    max_entries: int = 10_000,
    max_bytes: int = 256 * 1024 * 1024,
    clock: Callable[[], float] = time.monotonic,
) -> ResponseBackend:
    """The backend ``url`` names.

    Args:
        url: ``"memory://"``.
        max_entries: bound of the memory backend.
        max_bytes: bound of the memory backend.
        clock: the memory backend's clock.

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: the URL's scheme is not supported.

    >>> type(open_backend("memory://")).__name__
    'MemoryBackend'
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryBackend(max_entries=max_entries, max_bytes=max_bytes, clock=clock)
    raise ValueError(f"unsupported response-cache URL {url!r}; use memory://")
