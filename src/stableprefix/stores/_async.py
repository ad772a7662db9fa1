"""Async twins of the stores, for asyncio handlers.

Approach: ``AsyncStore`` has the same methods and guarantees as ``Store``
(``await store.load(...)``, ``await store.save(...)``, ...) and shares its
diffing, decoding and per-session memory (``StoreBase``); only the five
backend primitives are awaited. ``AsyncRedisStore`` talks to Redis through
redis-py's asyncio client. SQLite has no asyncio driver in the standard
library, so ``AsyncSQLiteStore`` runs each primitive of a ``SQLiteStore`` in
a worker thread (the event loop never blocks on the file lock);
``AsyncMemoryStore`` calls a ``MemoryStore`` directly (it never blocks).
"""

from __future__ import annotations

import asyncio
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._backends import DEFAULT_TIMEOUT, store_errors
from .._config import PromptConfig
from .._state import State, new_state
from ._base import (
    ArchivedCompaction,
    Loaded,
    Raw,
    Store,
    StoreBase,
    _archived,
)
from ._checks import check_fresh, check_id, check_shape, check_version
from ._codec import Delta, decode_archive
from ._index import IndexRead, query_terms, rank_read, recalled
from ._memory import MemoryStore
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._async_manager import AsyncPromptManager
    from ._recall import Embed, RecalledRound

__all__ = ["AsyncMemoryStore", "AsyncSQLiteStore", "AsyncStore"]


class AsyncStore(StoreBase, ABC):
    """The asyncio twin of ``Store``: the same methods, awaited.

    >>> import asyncio
    >>> from stableprefix import new_state
    >>> async def main():
    ...     store = AsyncMemoryStore()
    ...     state, version = await store.load("chat-1")
    ...     return await store.save("chat-1", state, expected_version=version)
    >>> asyncio.run(main())
    1
    """

    @abstractmethod
    async def _read(self, session_id: str, known: int) -> Raw | None:
        """See ``Store._read``."""

    @abstractmethod
    async def _write(self, session_id: str, delta: Delta) -> int:
        """See ``Store._write``."""

    @abstractmethod
    async def _read_archive(self, session_id: str) -> list[bytes]:
        """See ``Store._read_archive``."""

    @abstractmethod
    async def _delete(self, session_id: str) -> bool:
        """See ``Store._delete``."""

    @abstractmethod
    async def _purge(self) -> int:
        """See ``Store._purge``."""

    @abstractmethod
    async def _read_index(self, session_id: str, terms: list[str]) -> IndexRead | None:
        """See ``Store._read_index``."""

    @abstractmethod
    async def _read_rounds(
        self, session_id: str, keys: list[tuple[int, int]]
    ) -> list[bytes | None]:
        """See ``Store._read_rounds``."""

    async def load(self, session_id: str, *, config: PromptConfig | None = None) -> Loaded:
        """The session's state and version (see ``Store.load``)."""
        check_id(session_id)
        known = self._known(session_id)
        with store_errors("load", session_id, where=self._where()):
            raw = await self._read(session_id, known.version if known else 0)
            if raw is None:
                self._forget(session_id)
                return Loaded(new_state(), 0)
            return self._decode(session_id, raw, config)

    async def save(self, session_id: str, state: State, *, expected_version: int) -> int:
        """Write what changed since ``expected_version`` (see ``Store.save``)."""
        check_id(session_id)
        check_version(expected_version)
        check_shape(state)
        return await self._save(session_id, state, expected_version, check=True)

    async def _save(
        self, session_id: str, state: State, expected: int, *, check: bool = False
    ) -> int:
        with store_errors("save", session_id, where=self._where()):
            base = self._cached_base(session_id, expected)
            if base is None:
                base = self._seen_of(await self._read(session_id, 0))
            delta = self._plan(session_id, state, expected, base)
            if check:
                check_fresh(state, delta)
            version = await self._write(session_id, delta)
            self._saved(session_id, state, delta, version, base)
            return version

    async def archive(self, session_id: str) -> list[ArchivedCompaction]:
        """Everything compaction removed (see ``Store.archive``)."""
        check_id(session_id)
        with store_errors("archive", session_id, where=self._where()):
            return [_archived(decode_archive(b)) for b in await self._read_archive(session_id)]

    async def recall(
        self,
        session_id: str,
        query: str,
        *,
        k: int = 3,
        embed: Embed | None = None,
        config: PromptConfig | None = None,
    ) -> list[RecalledRound]:
        """The ``k`` archived rounds most relevant to ``query`` (see ``Store.recall``)."""
        from ._recall import check_query, rank_rounds

        check_id(session_id)
        check_query(query, k)
        if embed is None:
            terms = query_terms(query)
            with store_errors("recall", session_id, where=self._where()):
                found = rank_read(await self._read_index(session_id, terms), terms, k)
                if found is not None:
                    keys = [(c.record, c.round) for c in found]
                    bodies = await self._read_rounds(session_id, keys) if keys else []
                    return recalled(found, bodies)
        removed = [m for record in await self.archive(session_id) for m in record.removed]
        return rank_rounds(removed, query, k=k, embed=embed, config=config)

    async def delete(self, session_id: str) -> bool:
        """Remove the session and its archive (see ``Store.delete``)."""
        check_id(session_id)
        self._forget(session_id)
        with store_errors("delete", session_id, where=self._where()):
            return await self._delete(session_id)

    async def purge_expired(self) -> int:
        """Remove every expired session now (see ``Store.purge_expired``)."""
        with store_errors("purge", None, where=self._where()):
            return await self._purge()

    async def open_manager(self, session_id: str, config: PromptConfig) -> AsyncPromptManager:
        """An ``AsyncPromptManager`` saving every change (``AsyncPromptManager.open``)."""
        from ._async_manager import AsyncPromptManager

        return await AsyncPromptManager.open(self, session_id, config)

    async def aclose(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _OnSync(AsyncStore):
    """An async store running a sync store's primitives (inline or in a thread)."""

    _sync: Store
    _threaded = False

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._threaded:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def _read(self, session_id: str, known: int) -> Raw | None:
        raw: Raw | None = await self._call(self._sync._read, session_id, known)
        return raw

    async def _write(self, session_id: str, delta: Delta) -> int:
        version: int = await self._call(self._sync._write, session_id, delta)
        return version

    async def _read_archive(self, session_id: str) -> list[bytes]:
        records: list[bytes] = await self._call(self._sync._read_archive, session_id)
        return records

    async def _delete(self, session_id: str) -> bool:
        found: bool = await self._call(self._sync._delete, session_id)
        return found

    async def _read_index(self, session_id: str, terms: list[str]) -> IndexRead | None:
        read: IndexRead | None = await self._call(self._sync._read_index, session_id, terms)
        return read

    async def _read_rounds(
        self, session_id: str, keys: list[tuple[int, int]]
    ) -> list[bytes | None]:
        bodies: list[bytes | None] = await self._call(self._sync._read_rounds, session_id, keys)
        return bodies

    async def _purge(self) -> int:
        count: int = await self._call(self._sync._purge)
        return count


class AsyncMemoryStore(_OnSync):
    """The asyncio twin of ``MemoryStore`` (same arguments).

    >>> import asyncio
    >>> asyncio.run(AsyncMemoryStore().load("x")).version
    0
    """

    name = "memory://"

    def __init__(
        self,
        *,
        ttl: float | None = None,
        ttl_on_read: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ttl=ttl, ttl_on_read=ttl_on_read, clock=clock)
        self._sync = MemoryStore(ttl=ttl, ttl_on_read=ttl_on_read, clock=clock)


class AsyncSQLiteStore(_OnSync):
    """The asyncio twin of ``SQLiteStore`` (same arguments); file I/O runs in worker threads.

    >>> import asyncio, os, tempfile
    >>> store = AsyncSQLiteStore(os.path.join(tempfile.mkdtemp(), "s.db"))
    >>> asyncio.run(store.load("x")).version
    0
    """

    _threaded = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float | None = None,
        ttl_on_read: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        prefix: str = "stableprefix",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ttl=ttl, ttl_on_read=ttl_on_read, clock=clock)
        self._sync = SQLiteStore(
            path, ttl=ttl, ttl_on_read=ttl_on_read, timeout=timeout, prefix=prefix, clock=clock
        )
        self.path = self._sync.path
        self.name = self._sync.name

    async def aclose(self) -> None:
        """Close the worker threads' connections as they are next used (and this thread's)."""
        self._sync.close()
