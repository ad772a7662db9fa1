"""Session stores: keep conversations in memory, SQLite or Redis.

Every store has the same methods and guarantees (one contract test suite
runs against all of them):

- ``load(session_id)`` -> ``Loaded(state, version)``; every stored state
  passes the state check on the way in.
- ``save(session_id, state, expected_version=...)`` writes only what changed
  since that version (new messages, or a compaction record), refuses with
  ``ConflictError`` when someone else saved in between, and treats a
  retried save of the same change as done.
- ``archive(session_id)`` / ``recall(session_id, query, k=...)``: what
  compaction removed, compressed, in order; the most relevant rounds of it.
- a per-session TTL refreshed on write (and on read with ``ttl_on_read``).
- ``PromptManager.open(store, session_id, config)`` saves every change as
  it happens and retries conflicts itself.

Pick one from the environment with ``from_url()``: it reads the
``STABLEPREFIX_STORE`` variable when no URL is given
(``memory://``, ``sqlite:///path.db``, ``redis://host:port/db``,
``rediss://...``, with ``?ttl=SECONDS&ttl_on_read=1&prefix=NAME``).

>>> from stableprefix.stores import from_url
>>> store = from_url("memory://?ttl=3600")
>>> type(store).__name__, store.ttl
('MemoryStore', 3600.0)
"""

from __future__ import annotations

import os
from typing import Any

from .._backends import DEFAULT_TIMEOUT, parse_url
from ._async import AsyncMemoryStore, AsyncSQLiteStore, AsyncStore
from ._async_manager import AsyncPromptManager
from ._base import ArchivedCompaction, Loaded, Store
from ._memory import MemoryStore
from ._recall import Embed, RecalledRound, rank_rounds, recall_hook, split_rounds
from ._redis import AsyncRedisStore, RedisStore
from ._session import StoreConflictEvent, StoredPromptManager
from ._sqlite import SQLiteStore

__all__ = [
    "ENV_VAR",
    "ArchivedCompaction",
    "AsyncMemoryStore",
    "AsyncPromptManager",
    "AsyncRedisStore",
    "AsyncSQLiteStore",
    "AsyncStore",
    "Embed",
    "Loaded",
    "MemoryStore",
    "RecalledRound",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "StoreConflictEvent",
    "StoredPromptManager",
    "async_from_url",
    "from_url",
    "rank_rounds",
    "recall_hook",
    "split_rounds",
]

ENV_VAR = "STABLEPREFIX_STORE"


def from_url(url: str | None = None) -> Store:
    """The store a URL names (by default the ``STABLEPREFIX_STORE`` environment variable).

    Args:
        url: ``memory://``, ``sqlite:///ABSOLUTE/PATH.db``, ``sqlite://RELATIVE.db``,
            ``redis://host:port/db`` or ``rediss://...``, with optional
            ``ttl``, ``ttl_on_read``, ``prefix`` and ``timeout`` query options.

    Returns:
        A ``MemoryStore``, ``SQLiteStore`` or ``RedisStore``.

    Raises:
        ValueError: no URL and no ``STABLEPREFIX_STORE``, or a malformed URL.
        ImportError: a Redis URL without the ``redis`` extra installed.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "s.db")
    >>> from_url(f"sqlite://{path}?ttl=60").ttl
    60.0
    >>> os.environ["STABLEPREFIX_STORE"] = "memory://"
    >>> type(from_url()).__name__
    'MemoryStore'
    """
    store: Store = _open(url, MemoryStore, SQLiteStore, RedisStore)
    return store


def async_from_url(url: str | None = None) -> AsyncStore:
    """The async twin of the store a URL names (see ``from_url``).

    Raises:
        ValueError: no URL and no ``STABLEPREFIX_STORE``, or a malformed URL.
        ImportError: a Redis URL without the ``redis`` extra installed.

    >>> type(async_from_url("memory://")).__name__
    'AsyncMemoryStore'
    """
    store: AsyncStore = _open(url, AsyncMemoryStore, AsyncSQLiteStore, AsyncRedisStore)
    return store


def _open(url: str | None, memory: Any, sqlite: Any, redis: Any) -> Any:
    """The store of one of the three kinds that ``url`` (or the environment) names."""
    url = _env_url(url)
    parsed = parse_url(url)
    if parsed.scheme == "memory":
        return memory(ttl=parsed.ttl, ttl_on_read=parsed.ttl_on_read)
    if parsed.scheme == "sqlite":
        return sqlite(
            parsed.path,
            ttl=parsed.ttl,
            ttl_on_read=parsed.ttl_on_read,
            prefix=parsed.prefix or "stableprefix",
            timeout=parsed.timeout or DEFAULT_TIMEOUT,
        )
    return redis(url=url)


def _env_url(url: str | None) -> str:
    if url is not None:
        return url
    found = os.environ.get(ENV_VAR)
    if not found:
        raise ValueError(
            f"no store URL given and {ENV_VAR} is not set; set it to e.g. "
            "sqlite:///var/lib/app/sessions.db or redis://localhost:6379/0"
        )
    return found
