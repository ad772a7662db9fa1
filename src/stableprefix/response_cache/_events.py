"""What the response cache reports through ``ResponseCache(on_event=...)``.

Approach: one frozen event per thing the cache did (a hit, a miss, a store
or a refusal to store, a coalesced wait, a backend failure), all deriving
from ``stableprefix.Event`` like every other event of the library, so a
caller that already routes ``PromptManager`` events handles these with the
same ``isinstance`` checks. Events carry the key and the endpoint, never the
request or the answer (they may be logged).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._events import Event

__all__ = [
    "ResponseCacheBackendErrorEvent",
    "ResponseCacheCoalescedEvent",
    "ResponseCacheHitEvent",
    "ResponseCacheMissEvent",
    "ResponseCacheStoreEvent",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCacheHitEvent(Event):
    """A call was answered from the cache.

    Attributes:
        key: the request's key (64 hex digits).
        endpoint: the API, e.g. ``"openai.chat"`` (``"any"`` for ``get``).
        semantic: the answer was stored for a similar question.
        dollars_saved: the stored call's price by the model registry (0 when unknown).

    >>> ResponseCacheHitEvent(key="k", endpoint="any", semantic=False).kind
    'ResponseCacheHitEvent'
    """

    key: str
    endpoint: str
    semantic: bool
    dollars_saved: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCacheMissEvent(Event):
    """A call went upstream.

    Attributes:
        key: the request's key (empty when the request bypassed the cache).
        endpoint: the API.
        reason: ``"absent"`` (no answer stored) or ``"bypassed"`` (a sampled
            request with ``sampled="bypass"``).

    >>> ResponseCacheMissEvent(key="k", endpoint="any", reason="absent").reason
    'absent'
    """

    key: str
    endpoint: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCacheStoreEvent(Event):
    """An answer was stored, or left out by policy.

    Attributes:
        key: the request's key.
        endpoint: the API.
        stored: whether it was written.
        reason: ``"ok"`` when stored; else ``"truncated"``, ``"refused"``,
            ``"sampled"``, ``"incomplete stream"`` or ``"backend error"``.

    >>> ResponseCacheStoreEvent(key="k", endpoint="any", stored=True, reason="ok").stored
    True
    """

    key: str
    endpoint: str
    stored: bool
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCacheCoalescedEvent(Event):
    """A call waited for an identical call in flight and shared its outcome.

    Attributes:
        key: the request's key.
        endpoint: the API.
        across: ``"threads"``, ``"tasks"`` (asyncio) or ``"processes"``
            (through a Redis lease).

    >>> ResponseCacheCoalescedEvent(key="k", endpoint="any", across="tasks").across
    'tasks'
    """

    key: str
    endpoint: str
    across: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCacheBackendErrorEvent(Event):
    """The backend failed; the call went on without it (``fail_open=True``) or raised.

    Attributes:
        operation: ``"read"``, ``"write"``, ``"search"`` or ``"lease"``.
        error: the failure, as ``"StoreError: ..."``.
        failed_open: true when the call went on; false when
            ``ResponseCacheError`` was raised.

    >>> ResponseCacheBackendErrorEvent(operation="read", error="x", failed_open=True).kind
    'ResponseCacheBackendErrorEvent'
    """

    operation: str
    error: str
    failed_open: bool
