"""Calls through the cache: hit, or one upstream call per key (in-process and across processes).

Approach: a lookup first; on a miss the call joins the single-flight of its
key (``_flight``) and only the leader goes on. With a lease (Redis backend,
``ResponseCache(lease=seconds)``) the leader of each process also has to win
``SET NX PX`` on the key before calling; a process that loses polls the
backend for the winner's answer and only calls itself when the lease is
gone without an answer (the winner failed: errors are not shared across
processes) or the lease time ran out. Lease trouble never blocks a call:
the backend failing is counted and the call goes through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ._cache import ResponseCache

__all__ = ["run_acall", "run_call"]

T = TypeVar("T")
_POLL = 0.02


def hit(
    cache: ResponseCache,
    request: Mapping[str, Any],
    key: str,
    endpoint: str,
    load: Callable[[Any], T],
) -> tuple[T] | None:
    """The stored answer as the caller's type (counted as a hit), or ``None``."""
    entry = cache.find(request, key, endpoint)
    if entry is None or entry.get("response") is None:
        return None
    cache.count_hit(entry)
    return (load(entry["response"]),)


def _lease(cache: ResponseCache, key: str) -> tuple[str | None, bool]:
    """``(token, contended)``: our lease token, or whether another process holds it."""
    acquire = getattr(cache.backend, "acquire_lease", None)
    if cache.lease is None or acquire is None:
        return None, False
    try:
        token = acquire(key, cache.lease)
        return token, token is None and bool(cache.backend.lease_held(key))  # type: ignore[attr-defined]
    except Exception as exc:
        cache.backend_failed(exc)
        return None, False


def _release(cache: ResponseCache, key: str, token: str | None) -> None:
    if token is None:
        return
    try:
        cache.backend.release_lease(key, token)  # type: ignore[attr-defined]
    except Exception as exc:
        cache.backend_failed(exc)


def run_call(
    cache: ResponseCache,
    request: Mapping[str, Any],
    upstream: Callable[[], T],
    *,
    endpoint: str,
    load: Callable[[Any], T],
    key: str,
) -> T:
    """See ``ResponseCache.call``."""
    found = hit(cache, request, key, endpoint, load)
    if found is not None:
        return found[0]

    def lead() -> tuple[T, bool]:
        deadline = time.monotonic() + (cache.lease or 0)
        while True:
            again = hit(cache, request, key, endpoint, load)  # a flight that just ended
            if again is not None:
                return again[0], False  # counted as a hit
            token, contended = _lease(cache, key)
            if token is not None:
                again = hit(cache, request, key, endpoint, load)  # stored just before we won
                if again is not None:
                    _release(cache, key, token)
                    return again[0], False  # counted as a hit
                break
            if not contended or time.monotonic() > deadline:
                break
            time.sleep(_POLL)  # another process is asking: wait for its answer
        try:
            result = upstream()
            cache.count(misses=1)
            cache.store(key, request, endpoint, response=cache_json(result))
        finally:
            _release(cache, key, token)  # after storing: a waiter must find the answer
        return result, False

    (result, _), coalesced = cache._flights.run(key, lead)
    if coalesced:
        cache.count(coalesced=1)
    return result


async def run_acall(
    cache: ResponseCache,
    request: Mapping[str, Any],
    upstream: Callable[[], Awaitable[T]],
    *,
    endpoint: str,
    load: Callable[[Any], T],
    key: str,
) -> T:
    """See ``ResponseCache.acall``."""
    found = hit(cache, request, key, endpoint, load)
    if found is not None:
        return found[0]

    async def lead() -> tuple[T, bool]:
        deadline = time.monotonic() + (cache.lease or 0)
        while True:
            again = hit(cache, request, key, endpoint, load)
            if again is not None:
                return again[0], False  # counted as a hit
            token, contended = _lease(cache, key)
            if token is not None:
                again = hit(cache, request, key, endpoint, load)  # stored just before we won
                if again is not None:
                    _release(cache, key, token)
                    return again[0], False  # counted as a hit
                break
            if not contended or time.monotonic() > deadline:
                break
            await asyncio.sleep(_POLL)
        try:
            result = await upstream()
            cache.count(misses=1)
            cache.store(key, request, endpoint, response=cache_json(result))
        finally:
            _release(cache, key, token)  # after storing: a waiter must find the answer
        return result, False

    (result, _), coalesced = await cache._aflights.run(key, lead)
    if coalesced:
        cache.count(coalesced=1)
    return result


def cache_json(response: Any) -> Any:
    """A response as plain JSON (SDK objects through ``model_dump``)."""
    from ._cache import to_json

    return to_json(response)
