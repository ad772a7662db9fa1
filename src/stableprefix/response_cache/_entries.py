"""Entries: how the response cache reads and writes its backend, sync and async.

Approach: everything that touches the backend goes through ``Entries``, so
failing open, counting and reporting happen in one place. An entry is a
small JSON document (the response as plain JSON, or the events of a
streamed one, the model and its usage); the policy (``_policy``) keeps out
truncated and refused answers and, on request, sampled ones before anything
is written. A backend failure is counted, reported as an event, and the
call goes on (``fail_open=True``) or ``ResponseCacheError`` is raised.

The async twins never block the event loop: a backend with ``a``-prefixed
methods (Redis' asyncio client) is awaited, the in-memory backend is used
inline (no I/O), and any other backend (SQLite, replay files, a user's own)
runs in a worker thread, as does the semantic search (the user's ``embed``
may be slow).

Events go to ``on_event``. A callback that raises does not break the call
it reports on: the exception is counted (``stats.event_errors``) and shown
as a ``RuntimeWarning``, and the call returns its answer as usual.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import ReplayMissError, ResponseCacheError
from .._events import Event
from ._backend import MemoryBackend, ResponseBackend
from ._events import (
    ResponseCacheBackendErrorEvent,
    ResponseCacheCoalescedEvent,
    ResponseCacheHitEvent,
    ResponseCacheMissEvent,
    ResponseCacheStoreEvent,
)
from ._policy import ENDPOINTS, is_sampled, verdict
from ._semantic import SemanticIndex
from ._stats import StatsCounter, savings, usage_summary

__all__ = ["ENTRY_VERSION", "Entries", "to_json"]

ENTRY_VERSION = 1


def to_json(response: Any) -> Any:
    """A response as plain JSON: SDK objects through ``model_dump``."""
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return json.loads(json.dumps(response))


def _decode(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None  # an unreadable entry is a miss; the next store overwrites it
    if not isinstance(entry, dict) or entry.get("v") != ENTRY_VERSION:
        return None
    return entry


class Entries:
    """The backend as the cache uses it: entries, leases, counters and events."""

    def __init__(
        self,
        backend: ResponseBackend,
        *,
        ttl: float | None,
        policy: Mapping[str, Any],
        fail_open: bool,
        semantic: SemanticIndex | None,
        document: Callable[[Mapping[str, Any], str], dict[str, Any]],
        on_event: Callable[[Event], object] | None,
    ) -> None:
        self.backend = backend
        self.ttl = ttl
        self.sampled = policy["sampled"]
        self.store_truncated = policy["store_truncated"]
        self.store_refused = policy["store_refused"]
        self.fail_open = fail_open
        self.semantic = semantic
        self._document = document
        self.on_event = on_event
        self.stats = StatsCounter()
        self._inline = isinstance(backend, MemoryBackend)

    # ------------------------------------------------------------ events

    def emit(self, event: Event) -> None:
        """Hand ``event`` to ``on_event``; a raising callback is counted and warned about."""
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception as exc:
            self.stats.add(event_errors=1)
            warnings.warn(
                f"the response cache's on_event raised {type(exc).__name__}: {exc} "
                f"(for a {event.kind}); the call went on unaffected",
                RuntimeWarning,
                stacklevel=2,
            )

    def hit(self, entry: Mapping[str, Any], key: str, endpoint: str) -> None:
        """Count a hit and what it saved (the stored call's usage, priced by the registry)."""
        saved = savings(entry)
        semantic = entry.get("_semantic") is True
        self.stats.add(hits=1, semantic_hits=int(semantic), **saved)
        self.emit(
            ResponseCacheHitEvent(
                key=key,
                endpoint=endpoint,
                semantic=semantic,
                dollars_saved=float(saved.get("dollars_saved", 0.0)),
            )
        )

    def miss(self, key: str, endpoint: str, reason: str = "absent") -> None:
        """Count a call that goes upstream."""
        if reason == "bypassed":
            self.stats.add(misses=1, not_stored=1)
        else:
            self.stats.add(misses=1)
        self.emit(ResponseCacheMissEvent(key=key, endpoint=endpoint, reason=reason))

    def coalesced(self, key: str, endpoint: str, across: str) -> None:
        """Count a call that shared the outcome of an identical call in flight."""
        self.stats.add(coalesced=1)
        self.emit(ResponseCacheCoalescedEvent(key=key, endpoint=endpoint, across=across))

    def not_stored(self, key: str, endpoint: str, reason: str) -> None:
        """Count an answer left out (policy, unfinished stream)."""
        self.stats.add(not_stored=1)
        self.emit(ResponseCacheStoreEvent(key=key, endpoint=endpoint, stored=False, reason=reason))

    def failed(self, exc: Exception, operation: str) -> None:
        """Count a backend failure; raise ``ResponseCacheError`` when failing closed."""
        if isinstance(exc, ReplayMissError):
            raise exc  # strict replay fails loudly, never open
        self.stats.add(backend_errors=1)
        self.emit(
            ResponseCacheBackendErrorEvent(
                operation=operation,
                error=f"{type(exc).__name__}: {exc}",
                failed_open=self.fail_open,
            )
        )
        if not self.fail_open:
            raise ResponseCacheError(
                f"the response-cache backend failed to {operation} ({type(exc).__name__}: "
                f"{exc}); pass fail_open=True to call upstream anyway"
            ) from exc

    def admissible(self, request: Mapping[str, Any]) -> bool:
        """Whether the sampled-request policy lets ``request`` use the cache."""
        return self.sampled == "cache" or not is_sampled(request)

    # ------------------------------------------------------------- reads

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The raw entry under ``key`` (counted as nothing), or ``None``."""
        try:
            return _decode(self.backend.get(key))
        except Exception as exc:
            self.failed(exc, "read")
            return None

    async def alookup(self, key: str) -> dict[str, Any] | None:
        """The asyncio twin of ``lookup``."""
        try:
            return _decode(await self._aio("get", key))
        except Exception as exc:
            self.failed(exc, "read")
            return None

    def find(self, request: Mapping[str, Any], key: str, endpoint: str) -> dict[str, Any] | None:
        """The entry under ``key``, else (semantic cache on) the best similar one."""
        entry = self.lookup(key)
        if entry is not None or self.semantic is None:
            return entry
        return self._search(request, key, endpoint)

    async def afind(
        self, request: Mapping[str, Any], key: str, endpoint: str
    ) -> dict[str, Any] | None:
        """The asyncio twin of ``find`` (the similarity search runs in a worker thread)."""
        entry = await self.alookup(key)
        if entry is not None or self.semantic is None:
            return entry
        return await asyncio.to_thread(self._search, request, key, endpoint)

    def _search(self, request: Mapping[str, Any], key: str, endpoint: str) -> dict[str, Any] | None:
        assert self.semantic is not None
        try:
            found = self.semantic.search(request, key, endpoint, self.lookup)
        except (TypeError, ReplayMissError):
            raise
        except Exception as exc:
            self.failed(exc, "search")
            return None
        return None if found is None else {**found, "_semantic": True}

    # ------------------------------------------------------------ writes

    def _prepare(
        self,
        key: str,
        request: Mapping[str, Any],
        endpoint: str,
        response: Any,
        events: list[Any] | None,
    ) -> tuple[bytes, str | None] | str:
        """The bytes and partition to write, or why nothing is written."""
        if not self.admissible(request):
            return "sampled"
        reason = "ok" if response is None else verdict(endpoint, response).reason
        if (reason == "truncated" and not self.store_truncated) or (
            reason == "refused" and not self.store_refused
        ):
            return reason
        model = request.get("model")
        entry = {
            "v": ENTRY_VERSION,
            "endpoint": endpoint,
            "model": model if isinstance(model, str) else None,
            "usage": usage_summary(ENDPOINTS.get(endpoint), response),
            "response": response,
            "events": events,
            "stored_at": time.time(),
        }
        partition = None
        if self.semantic is not None:
            try:
                found = self.semantic.vector_for(request, key, endpoint)
            except TypeError:
                raise
            except Exception as exc:
                self.failed(exc, "search")
                found = None
            if found is not None:
                partition, entry["vector"] = found
        if getattr(self.backend, "keeps_requests", False):
            entry["request"] = self._document(request, endpoint)
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode(), partition

    def _written(self, key: str, endpoint: str) -> bool:
        self.stats.add(stored=1)
        self.emit(ResponseCacheStoreEvent(key=key, endpoint=endpoint, stored=True, reason="ok"))
        return True

    def store(
        self,
        key: str,
        request: Mapping[str, Any],
        endpoint: str,
        *,
        response: Any = None,
        events: list[Any] | None = None,
        lease: str | None = None,
    ) -> bool:
        """Write an entry if the policy allows it; returns whether it did.

        ``lease``: a lease token; the write releases it (atomically where the
        backend can), and it is released anyway when nothing is written.
        """
        try:
            prepared = self._prepare(key, request, endpoint, response, events)
            if isinstance(prepared, str):
                self.not_stored(key, endpoint, prepared)
                return False
            data, partition = prepared
            try:
                options: dict[str, Any] = {} if lease is None else {"lease": lease}
                self.backend.set(key, data, ttl=self.ttl, partition=partition, **options)
                lease = None
            except Exception as exc:
                self.failed(exc, "write")
                return False
            return self._written(key, endpoint)
        finally:
            if lease is not None:
                self.release(key, lease)

    async def astore(
        self,
        key: str,
        request: Mapping[str, Any],
        endpoint: str,
        *,
        response: Any = None,
        events: list[Any] | None = None,
        lease: str | None = None,
    ) -> bool:
        """The asyncio twin of ``store``."""
        try:
            if self.semantic is None or self._inline:
                prepared = self._prepare(key, request, endpoint, response, events)
            else:
                prepared = await asyncio.to_thread(
                    self._prepare, key, request, endpoint, response, events
                )
            if isinstance(prepared, str):
                self.not_stored(key, endpoint, prepared)
                return False
            data, partition = prepared
            try:
                options: dict[str, Any] = {} if lease is None else {"lease": lease}
                await self._aio("set", key, data, ttl=self.ttl, partition=partition, **options)
                lease = None
            except Exception as exc:
                self.failed(exc, "write")
                return False
            return self._written(key, endpoint)
        finally:
            if lease is not None:
                await self.arelease(key, lease)

    # ------------------------------------------------------------ leases

    @property
    def leases(self) -> bool:
        """Whether the backend can coalesce calls across processes."""
        return callable(getattr(self.backend, "acquire_lease", None))

    def claim(self, key: str, seconds: float) -> str | bool | None:
        """A lease token, ``None`` (someone else holds it) or ``False`` (the backend failed)."""
        try:
            token: str | None = self.backend.acquire_lease(key, seconds)  # type: ignore[attr-defined]
            return token
        except Exception as exc:
            self.failed(exc, "lease")
            return False

    async def aclaim(self, key: str, seconds: float) -> str | bool | None:
        """The asyncio twin of ``claim``."""
        try:
            token: str | None = await self._aio("acquire_lease", key, seconds)
            return token
        except Exception as exc:
            self.failed(exc, "lease")
            return False

    def renew(self, key: str, token: str, seconds: float) -> bool:
        """Extend our lease; false when it is lost or the backend failed (never raises)."""
        try:
            return bool(self.backend.renew_lease(key, token, seconds))  # type: ignore[attr-defined]
        except Exception:
            self.stats.add(backend_errors=1)
            return False

    async def arenew(self, key: str, token: str, seconds: float) -> bool:
        """The asyncio twin of ``renew``."""
        try:
            return bool(await self._aio("renew_lease", key, token, seconds))
        except Exception:
            self.stats.add(backend_errors=1)
            return False

    def release(self, key: str, token: str) -> None:
        """Give our lease back."""
        try:
            self.backend.release_lease(key, token)  # type: ignore[attr-defined]
        except Exception as exc:
            self.failed(exc, "lease")

    async def arelease(self, key: str, token: str) -> None:
        """The asyncio twin of ``release``."""
        try:
            await self._aio("release_lease", key, token)
        except Exception as exc:
            self.failed(exc, "lease")

    # ----------------------------------------------------------- plumbing

    async def _aio(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call backend method ``name`` without blocking the loop."""
        native = getattr(self.backend, "a" + name, None)
        if native is not None:
            return await native(*args, **kwargs)
        method = getattr(self.backend, name)
        if self._inline:
            return method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)
