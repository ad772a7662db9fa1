"""Calls through the cache: hit, or one upstream call per key (in-process and across processes).

Approach: a lookup first; on a miss the call joins the single-flight of its
key (``_flight``) and only the leader goes on. With a lease (a backend that
has leases, i.e. Redis, and ``ResponseCache(lease=seconds)``) the leader of
each process must also hold the key's lease before calling upstream:

- it looks the answer up, then tries to take the lease (one atomic
  ``SET NX``: it either holds the lease or someone else does);
- holding it, it looks the answer up once more (the previous holder may have
  stored it and released the lease between our two steps), then calls
  upstream, renewing the lease every third of its time while the call runs,
  and stores the answer and releases the lease in one atomic step;
- not holding it, it sleeps (10 ms, doubling up to 200 ms) and starts over.

So a waiter re-checks the answer before every attempt to take over, and can
only take over once the lease is gone: released by a holder that stored its
answer (the waiter then finds it), released by a holder whose call failed
(errors are not shared across processes: the waiter calls itself), or
expired because the holder died and stopped renewing it. Lease trouble
never blocks a call: a failing backend is counted and the call goes through.

The decisions are written once, as a generator of steps (``find``,
``claim``, ``release``, ``sleep``) that a sync and an async driver carry out.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ResponseCacheError
from ._entries import to_json

if TYPE_CHECKING:
    from ._cache import ResponseCache
    from ._entries import Entries

__all__ = ["run_acall", "run_call"]

T = TypeVar("T")
_POLL_FIRST = 0.01
_POLL_MAX = 0.2

Entry = dict[str, Any]
Steps = Generator[tuple[str, Any], Any, tuple[Entry | None, str | None]]


def _turn(leased: bool) -> Steps:
    """The leader's way to its answer: ``(entry, None)`` on a hit, ``(None, token)`` to call."""
    delay = _POLL_FIRST
    while True:
        entry = yield ("find", None)
        if entry is not None:
            return entry, None
        if not leased:
            return None, None
        token = yield ("claim", None)
        if token is False:
            return None, None  # the backend failed (counted): fail open, call without a lease
        if token is not None:
            entry = yield ("find", None)  # stored just before we took the lease
            if entry is not None:
                yield ("release", token)
                return entry, None
            return None, token
        yield ("sleep", delay)  # another process is calling: wait for its answer
        delay = min(delay * 2, _POLL_MAX)


def _usable(entry: Entry | None) -> Entry | None:
    return entry if entry is not None and entry.get("response") is not None else None


def _walk(cache: ResponseCache, request: Mapping[str, Any], key: str, endpoint: str) -> Any:
    entries, lease = cache._entries, cache.lease
    steps = _turn(lease is not None and entries.leases)
    reply: Any = None
    while True:
        try:
            op, arg = steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = None
        if op == "find":
            reply = _usable(entries.find(request, key, endpoint))
        elif op == "claim":
            reply = entries.claim(key, lease or 0)
        elif op == "release":
            entries.release(key, arg)
        else:
            time.sleep(arg)


async def _awalk(cache: ResponseCache, request: Mapping[str, Any], key: str, endpoint: str) -> Any:
    entries, lease = cache._entries, cache.lease
    steps = _turn(lease is not None and entries.leases)
    reply: Any = None
    while True:
        try:
            op, arg = steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = None
        if op == "find":
            reply = _usable(await entries.afind(request, key, endpoint))
        elif op == "claim":
            reply = await entries.aclaim(key, lease or 0)
        elif op == "release":
            await entries.arelease(key, arg)
        else:
            await asyncio.sleep(arg)


class _Renewal:
    """Keeps a lease alive from a thread while the leader's call runs."""

    def __init__(self, entries: Entries, key: str, token: str, seconds: float) -> None:
        self._stop = threading.Event()
        self._args = (entries, key, token, seconds)
        threading.Thread(target=self._run, name="stableprefix-lease", daemon=True).start()

    def _run(self) -> None:
        entries, key, token, seconds = self._args
        while not self._stop.wait(seconds / 3):
            if not entries.renew(key, token, seconds):
                return  # lost (we stalled past the lease) or the backend is down

    def stop(self) -> None:
        self._stop.set()


async def _arenewal(entries: Entries, key: str, token: str, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds / 3)
        if not await entries.arenew(key, token, seconds):
            return


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
    entries = cache._entries
    found = _usable(entries.find(request, key, endpoint))
    if found is not None:
        entries.hit(found, key, endpoint)
        return load(found["response"])

    def lead() -> T:
        entry, token = _walk(cache, request, key, endpoint)
        if entry is not None:
            entries.hit(entry, key, endpoint)
            return load(entry["response"])
        entries.miss(key, endpoint)
        renewal = None if token is None else _Renewal(entries, key, token, cache.lease or 0)
        try:
            result = upstream()
        except BaseException:
            if token is not None:
                # not stored: let a waiter call; the caller gets the upstream error
                # even when failing closed (a release failure is counted and reported)
                with contextlib.suppress(ResponseCacheError):
                    entries.release(key, token)
            raise
        finally:
            if renewal is not None:
                renewal.stop()
        entries.store(key, request, endpoint, response=to_json(result), lease=token)
        return result

    result, coalesced = cache._flights.run(key, lead)
    if coalesced:
        entries.coalesced(key, endpoint, "threads")
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
    entries = cache._entries
    found = _usable(await entries.afind(request, key, endpoint))
    if found is not None:
        entries.hit(found, key, endpoint)
        return load(found["response"])

    async def lead() -> T:
        entry, token = await _awalk(cache, request, key, endpoint)
        if entry is not None:
            entries.hit(entry, key, endpoint)
            return load(entry["response"])
        entries.miss(key, endpoint)
        renewal = None
        if token is not None:
            renewal = asyncio.ensure_future(_arenewal(entries, key, token, cache.lease or 0))
        try:
            result = await upstream()
        except BaseException:
            if token is not None:
                with contextlib.suppress(ResponseCacheError):
                    await entries.arelease(key, token)
            raise
        finally:
            if renewal is not None:
                renewal.cancel()
        await entries.astore(key, request, endpoint, response=to_json(result), lease=token)
        return result

    result, coalesced = await cache._aflights.run(key, lead)
    if coalesced:
        entries.coalesced(key, endpoint, "tasks")
    return result
