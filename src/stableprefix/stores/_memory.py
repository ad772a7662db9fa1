"""``MemoryStore``: sessions in this process's memory.

Approach: the same log layout as the database stores (encoded entries, a
meta document, compressed archive records), kept in dicts under one lock,
so the memory store behaves exactly like the others in the contract suite:
it stores bytes, not the caller's objects, and a caller changing a state
after saving it cannot change what was saved. Expiry is lazy (on read) and
on demand (``purge_expired``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .._errors import ConflictError
from ._base import Raw, Store
from ._codec import Delta
from ._index import IndexRead

__all__ = ["MemoryStore"]


@dataclass
class _Session:
    version: int = 0
    meta: bytes = b""
    entries: list[bytes] = field(default_factory=list)
    archive: list[bytes] = field(default_factory=list)
    digest: str = ""
    expires: float | None = None
    postings: dict[str, str] = field(default_factory=dict)  # the recall index (see _index)
    rounds: dict[tuple[int, int], bytes] = field(default_factory=dict)
    stats: list[tuple[int, int, int]] = field(default_factory=list)


class MemoryStore(Store):
    """Conversations kept in this process (tests, single-process apps, caches of state).

    Args:
        ttl: seconds a session lives after its last write (None: forever).
        ttl_on_read: refresh the expiry on every load too.
        clock: the time source for expiry (seconds since the epoch).

    >>> from stableprefix import PromptConfig, PromptManager
    >>> store = MemoryStore()
    >>> pm = PromptManager.open(store, "chat-1", PromptConfig())
    >>> pm.append({"role": "user", "content": "Hi"})
    >>> store.load("chat-1").version
    1
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
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def _live(self, session_id: str) -> _Session | None:
        found = self._sessions.get(session_id)
        if found is not None and found.expires is not None and found.expires <= self._clock():
            del self._sessions[session_id]
            return None
        return found

    def _read(self, session_id: str, known: int) -> Raw | None:
        with self._lock:
            found = self._live(session_id)
            if found is None:
                return None
            if self.ttl_on_read:
                found.expires = self._expires()
            entries = None if found.version == known else list(found.entries)
            return Raw(found.version, found.meta, entries)

    def _write(self, session_id: str, delta: Delta) -> int:
        with self._lock:
            found = self._live(session_id) or _Session()
            if found.version != delta.base:
                if found.version == delta.base + 1 and found.digest == delta.digest:
                    return found.version
                raise ConflictError(
                    f"version {found.version} is stored, this save expected {delta.base}; "
                    "load again, re-apply your change and save",
                    session_id=session_id,
                    expected_version=delta.base,
                    actual_version=found.version,
                )
            end = len(found.entries) - delta.cut
            if delta.drop or delta.head:
                found.entries = [*delta.head, *found.entries[delta.drop : end], *delta.tail]
            else:  # an append (or a rewritten turn): O(change), not O(history)
                del found.entries[end:]
                found.entries.extend(delta.tail)
            if delta.archive is not None:
                found.archive.append(delta.archive)
            if delta.index is not None:
                index = delta.index
                for word, items in index.postings.items():
                    old = found.postings.get(word)
                    found.postings[word] = items if old is None else f"{old},{items}"
                for j, body in enumerate(index.rounds):
                    found.rounds[(index.record, j)] = body
                found.stats.append((index.record, len(index.rounds), index.words))
            found.meta, found.digest = delta.meta, delta.digest
            found.version += 1
            found.expires = self._expires()
            self._sessions[session_id] = found
            return found.version

    def _read_archive(self, session_id: str) -> list[bytes]:
        with self._lock:
            found = self._live(session_id)
            return [] if found is None else list(found.archive)

    def _read_index(self, session_id: str, terms: list[str]) -> IndexRead | None:
        with self._lock:
            found = self._live(session_id)
            if found is None:
                return None
            postings = {t: found.postings[t] for t in terms if t in found.postings}
            return IndexRead(len(found.archive), list(found.stats), postings)

    def _read_rounds(self, session_id: str, keys: list[tuple[int, int]]) -> list[bytes | None]:
        with self._lock:
            found = self._live(session_id)
            return [None if found is None else found.rounds.get(key) for key in keys]

    def _delete(self, session_id: str) -> bool:
        with self._lock:
            return self._sessions.pop(session_id, None) is not None

    def _purge(self) -> int:
        with self._lock:
            before = len(self._sessions)
            for session_id in list(self._sessions):
                self._live(session_id)
            return before - len(self._sessions)
