"""The response cache: identical requests answered once.

The prompt cache makes a repeated *prefix* cheap; the response cache makes a
repeated *request* free. ``ResponseCache`` keys a request by the canonical
JSON of everything that can change its answer (see ``EXCLUDED_FIELDS`` for
what cannot), stores the answer in memory, SQLite or Redis, and replays it.

>>> from stableprefix import ResponseCache
>>> cache = ResponseCache(namespace="tenant-1")
>>> req = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "2+2?"}]}
>>> cache.get(req) is None
True
>>> cache.put(req, {"choices": [{"message": {"content": "4"}}]})
True
>>> cache.get(req)["choices"][0]["message"]["content"]
'4'
"""

from ._backend import MemoryBackend, ResponseBackend
from ._cache import ResponseCache
from ._events import (
    ResponseCacheBackendErrorEvent,
    ResponseCacheCoalescedEvent,
    ResponseCacheHitEvent,
    ResponseCacheMissEvent,
    ResponseCacheStoreEvent,
)
from ._key import EXCLUDED_ANYWHERE, EXCLUDED_FIELDS, KeyExplanation, canonical_request
from ._redis import RedisBackend
from ._replay import ReplayBackend, scrub
from ._sqlite import SQLiteBackend
from ._stats import ResponseCacheStats

__all__ = [
    "EXCLUDED_ANYWHERE",
    "EXCLUDED_FIELDS",
    "KeyExplanation",
    "MemoryBackend",
    "RedisBackend",
    "ReplayBackend",
    "ResponseBackend",
    "ResponseCache",
    "ResponseCacheBackendErrorEvent",
    "ResponseCacheCoalescedEvent",
    "ResponseCacheHitEvent",
    "ResponseCacheMissEvent",
    "ResponseCacheStats",
    "ResponseCacheStoreEvent",
    "SQLiteBackend",
    "canonical_request",
    "scrub",
]
