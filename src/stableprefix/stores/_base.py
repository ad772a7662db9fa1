"""The store protocol and what every store does the same way.

Approach: a backend implements four primitives on raw bytes — read a
session (meta + live entries, or only the version when the caller already
holds it), apply a ``Delta`` atomically if the stored version is still the
one it was computed from, read the archive, delete/purge — and ``Store``
does the rest once: diffing against what this process last saw, decoding,
the state check, TTL bookkeeping, error translation and idempotent retries.
A store remembers the last version it read or wrote per session (bounded
LRU), which is what lets a save write only the change and a load of an
unchanged session skip reading the messages again.

Every load passes the core's state check. Rows whose seal matches (see
``_codec``) were written by the library from a state checked for an equal
adapter: they are that checked state again, as ``check_state`` recognises
a state it already checked. Every other load is checked in full. A session
this store object already holds, checked for the same adapter, is handed
out again as that checked state (fresh lists, shared messages).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .._backends import store_errors
from .._config import PromptConfig
from .._errors import ConflictError
from .._state import State, is_intact, new_state
from ._checks import check_fresh, check_id, check_loaded, check_shape, check_version
from ._codec import (
    EMPTY,
    Delta,
    Seen,
    adapter_fingerprint,
    decode_archive,
    diff,
    meta_of,
    state_from,
)
from ._index import IndexRead, query_terms, rank_read, recalled

if TYPE_CHECKING:
    from .._manager import PromptManager
    from ._recall import Embed, RecalledRound

__all__ = [
    "ArchivedCompaction",
    "Loaded",
    "Raw",
    "Store",
    "StoreBase",
]

CACHE_SESSIONS = 1024


class Loaded(NamedTuple):
    """A session as loaded: its state and the version to pass to ``save``.

    >>> from stableprefix.stores import MemoryStore
    >>> state, version = MemoryStore().load("new-chat")
    >>> version, state["committed"]
    (0, [])
    """

    state: State
    version: int


@dataclass(frozen=True, slots=True)
class Raw:
    """A session as a backend returns it.

    The live entries come either as a list (``entries``) or already joined
    by commas in the database (``joined``, holding ``count`` entries); both
    are None when the version is the one the caller already holds.
    """

    version: int
    meta: bytes
    entries: list[bytes] | None
    joined: bytes | None = None
    count: int = 0

    @property
    def unchanged(self) -> bool:
        """No entries were read: the caller holds this version."""
        return self.entries is None and self.joined is None

    def unpack(self) -> tuple[State, Seen]:
        """The state and what was seen (see ``state_from``)."""
        if self.joined is not None:
            return state_from(self.meta, joined=self.joined, count=self.count)
        return state_from(self.meta, self.entries or [])


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedCompaction:
    """Messages one compaction removed, as the archive keeps them.

    Attributes:
        removed: the messages, oldest first.
        counts: their token counts.
        base_version: the session version the compaction was saved on top of.
        compactions: the session's compaction count after it.
        added: how many messages the compaction put in their place (a summary).
        at: when it was saved (seconds since the epoch), if known.

    >>> ArchivedCompaction(removed=(), counts=(), base_version=3, compactions=1,
    ...                    added=0, at=None).base_version
    3
    """

    removed: tuple[dict[str, Any], ...]
    counts: tuple[int, ...]
    base_version: int
    compactions: int
    added: int
    at: float | None


class StoreBase:
    """What sync and async stores share: options, the per-session memory, diffing, decoding."""

    name = "store"

    def __init__(
        self,
        *,
        ttl: float | None = None,
        ttl_on_read: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0
        ):
            raise ValueError(f"ttl must be a number of seconds > 0 or None, got {ttl!r}")
        self.ttl = None if ttl is None else float(ttl)
        self.ttl_on_read = bool(ttl_on_read)
        self._clock = clock
        self._seen: OrderedDict[str, Seen] = OrderedDict()
        self._seen_lock = threading.Lock()
        self.bytes_written = 0

    def _where(self) -> str:
        return self.name

    def _expires(self) -> float | None:
        return None if self.ttl is None else self._clock() + self.ttl

    # ---------------------------------------------------------------- shared

    def _remember(self, session_id: str, seen: Seen) -> None:
        with self._seen_lock:
            current = self._seen.get(session_id)
            if current is not None and current.version > seen.version:
                return
            self._seen[session_id] = seen
            self._seen.move_to_end(session_id)
            while len(self._seen) > CACHE_SESSIONS:
                self._seen.popitem(last=False)

    def _known(self, session_id: str) -> Seen | None:
        with self._seen_lock:
            return self._seen.get(session_id)

    def _forget(self, session_id: str) -> None:
        with self._seen_lock:
            self._seen.pop(session_id, None)

    def _decode(self, session_id: str, raw: Raw, config: PromptConfig | None) -> Loaded:
        known = self._known(session_id)
        if raw.unchanged and known is not None and known.version == raw.version:
            seen = known
            state = _state_of(seen)
            if config is not None:
                adapter = config.adapter
                if seen.checked is not None and (
                    seen.checked is adapter or seen.checked == adapter
                ):
                    from .._check import mark_checked

                    return Loaded(mark_checked(state, adapter), raw.version)
        else:
            state, seen = raw.unpack()
            seen.version = raw.version
        state = check_loaded(
            state, config, session_id, sealed=seen.sealed, checked_by=seen.checked_by
        )
        if config is not None and _same_counts(state, seen):
            seen.checked = config.adapter
        self._remember(session_id, seen)
        return Loaded(state, raw.version)

    def _plan(self, session_id: str, state: State, expected: int, base: Seen | None) -> Delta:
        if base is None or base.version != expected:
            raise ConflictError(
                f"the store holds version {base.version if base else 0}, not {expected}; "
                "load the session again, re-apply your change and save",
                session_id=session_id,
                expected_version=expected,
                actual_version=base.version if base else 0,
            )
        checked_by = None
        if is_intact(state) and state._derived:  # type: ignore[attr-defined]
            checked_by = adapter_fingerprint(state._adapter)  # type: ignore[attr-defined]
        return diff(
            base, state, now=self._clock(), sealed=checked_by is not None, checked_by=checked_by
        )

    def _saved(self, session_id: str, state: State, delta: Delta, version: int, base: Seen) -> None:
        messages = [*state["committed"], *state["recent"]]
        counts = [*state["committed_counts"], *state["recent_counts"]]
        meta = meta_of(state)
        meta["pending"] = list(meta["pending"])
        base = Seen(
            base.version,
            base.messages,
            base.counts,
            base.split,
            base.meta,
            entries_hash=base.entries_hash,
            sealed=base.sealed,
            checked=base.checked,
            checked_by=base.checked_by,
        )
        adapter = state._adapter if is_intact(state) else None  # type: ignore[attr-defined]
        seen = Seen(
            version,
            messages,
            counts,
            meta["split"],
            meta,
            prev=base,
            entries_hash=delta.entries_hash,
            sealed=delta.sealed,
            checked=adapter,
        )
        self._remember(session_id, seen)
        self.bytes_written += delta.written

    def _cached_base(self, session_id: str, expected: int) -> Seen | None:
        """The stored version ``expected`` if this process still holds it."""
        base = self._known(session_id) if expected else EMPTY
        if base is not None and base.prev is not None and base.prev.version == expected:
            base = base.prev  # a retry of the save this process made last
        return base if base is not None and base.version == expected else None

    def _seen_of(self, raw: Raw | None) -> Seen:
        if raw is None:
            return EMPTY
        _, seen = raw.unpack()
        seen.version = raw.version
        return seen


class Store(StoreBase, ABC):
    """A place to keep conversations: load, save (append-only), archive, recall.

    Subclasses implement the ``_read``/``_write``/``_read_archive``/
    ``_delete``/``_purge`` primitives; everything else is shared.

    Args:
        ttl: seconds a session lives after its last write (None: forever).
        ttl_on_read: refresh the expiry on every load too.
        clock: the time source for TTL bookkeeping (seconds since the epoch).
    """

    # ------------------------------------------------------------ primitives

    @abstractmethod
    def _read(self, session_id: str, known: int) -> Raw | None:
        """The session, or None when missing/expired; entries None if version == known."""

    @abstractmethod
    def _write(self, session_id: str, delta: Delta) -> int:
        """Apply ``delta`` atomically if the stored version is ``delta.base``.

        Returns the new version. If the stored version is ``delta.base + 1``
        and was written by a delta with the same digest, return it unchanged
        (a retried save). Otherwise raise ``ConflictError``.
        """

    @abstractmethod
    def _read_archive(self, session_id: str) -> list[bytes]:
        """The session's archive records, oldest first."""

    @abstractmethod
    def _delete(self, session_id: str) -> bool:
        """Remove the session, its log and archive; whether it existed."""

    @abstractmethod
    def _purge(self) -> int:
        """Remove every expired session now; how many."""

    @abstractmethod
    def _read_index(self, session_id: str, terms: list[str]) -> IndexRead | None:
        """The recall index for ``terms`` (None: no such session)."""

    @abstractmethod
    def _read_rounds(self, session_id: str, keys: list[tuple[int, int]]) -> list[bytes | None]:
        """The stored messages of archived rounds ``(record, round)``."""

    # ---------------------------------------------------------------- public

    def load(self, session_id: str, *, config: PromptConfig | None = None) -> Loaded:
        """The session's state and version (version 0 and an empty state if none).

        Args:
            session_id: your conversation id.
            config: when given, the state must also be valid for its
                adapter (the full state check); otherwise the structure is checked.

        Returns:
            ``Loaded(state, version)``; pass ``version`` to ``save``. Treat
            the messages as read-only (the store shares them with its memory
            of the session, as every state in this library shares messages).

        Raises:
            TypeError / ValueError: a bad ``session_id``.
            StoreError: the store is down, or holds something that is not a
                valid state (naming the session and the operation).

        >>> from stableprefix.stores import MemoryStore
        >>> store = MemoryStore()
        >>> state, version = store.load("chat-1")
        >>> state["recent"].append({"role": "user", "content": "hi"})
        >>> state["recent_counts"].append(1); state["recent_tokens"] = 1
        >>> store.save("chat-1", state, expected_version=version)
        1
        >>> store.load("chat-1").state["recent"]
        [{'role': 'user', 'content': 'hi'}]
        """
        check_id(session_id)
        known = self._known(session_id)
        with store_errors("load", session_id, where=self._where()):
            raw = self._read(session_id, known.version if known else 0)
            if raw is None:
                self._forget(session_id)
                return Loaded(new_state(), 0)
            return self._decode(session_id, raw, config)

    def save(self, session_id: str, state: State, *, expected_version: int) -> int:
        """Write what changed since ``expected_version``; return the new version.

        Only the difference is written: new messages, a moved
        committed/recent boundary, or a compaction (whose removed messages
        go to the archive). Saving the same change again after an error
        (a timeout whose save did land) returns the same version instead of
        applying it twice.

        Raises:
            TypeError / ValueError: bad arguments.
            InvalidStateError: ``state`` is malformed (nothing is written).
            ConflictError: someone saved the session after ``expected_version``
                (load again, re-apply your change, save again).
            StoreError: the store is down or full.

        >>> from stableprefix import new_state
        >>> from stableprefix.stores import MemoryStore
        >>> store = MemoryStore()
        >>> store.save("chat-1", new_state(), expected_version=0)
        1
        >>> store.save("chat-1", new_state(), expected_version=0)  # a retry of that save
        1
        """
        check_id(session_id)
        check_version(expected_version)
        check_shape(state)
        return self._save(session_id, state, expected_version, check=True)

    def _save(self, session_id: str, state: State, expected: int, *, check: bool = False) -> int:
        with store_errors("save", session_id, where=self._where()):
            base = self._cached_base(session_id, expected)
            if base is None:
                base = self._seen_of(self._read(session_id, 0))
            delta = self._plan(session_id, state, expected, base)
            if check:
                check_fresh(state, delta)
            version = self._write(session_id, delta)
            self._saved(session_id, state, delta, version, base)
            return version

    def archive(self, session_id: str) -> list[ArchivedCompaction]:
        """Everything compaction removed from the session, one record per compaction.

        Raises:
            StoreError: the store is down or the archive cannot be read.

        >>> from stableprefix.stores import MemoryStore
        >>> MemoryStore().archive("chat-1")
        []
        """
        check_id(session_id)
        with store_errors("archive", session_id, where=self._where()):
            return [_archived(decode_archive(b)) for b in self._read_archive(session_id)]

    def recall(
        self,
        session_id: str,
        query: str,
        *,
        k: int = 3,
        embed: Embed | None = None,
        config: PromptConfig | None = None,
    ) -> list[RecalledRound]:
        """The ``k`` archived rounds most relevant to ``query`` (see ``stores.rank_rounds``).

        Ranked by BM25 from the recall index written with each archive
        record (reading only the postings of the query's words and the
        messages of the rounds returned); with ``embed``, or over records
        archived before the index existed, from the whole archive (split
        into rounds by ``config``'s adapter when given).

        Raises:
            TypeError / ValueError: a bad ``query`` or ``k``.
            StoreError: the store is down or holds garbage.

        >>> from stableprefix.stores import MemoryStore
        >>> MemoryStore().recall("chat-1", "invoice")
        []
        """
        from ._recall import check_query, rank_rounds

        check_id(session_id)
        check_query(query, k)
        if embed is None:
            terms = query_terms(query)
            with store_errors("recall", session_id, where=self._where()):
                found = rank_read(self._read_index(session_id, terms), terms, k)
                if found is not None:
                    keys = [(c.record, c.round) for c in found]
                    return recalled(found, self._read_rounds(session_id, keys) if keys else [])
        removed = [m for record in self.archive(session_id) for m in record.removed]
        return rank_rounds(removed, query, k=k, embed=embed, config=config)

    def delete(self, session_id: str) -> bool:
        """Remove the session, its archive and this store's memory of it.

        >>> from stableprefix.stores import MemoryStore
        >>> MemoryStore().delete("chat-1")
        False
        """
        check_id(session_id)
        self._forget(session_id)
        with store_errors("delete", session_id, where=self._where()):
            return self._delete(session_id)

    def purge_expired(self) -> int:
        """Remove every expired session now (they are also dropped when read).

        >>> from stableprefix.stores import MemoryStore
        >>> MemoryStore(ttl=60).purge_expired()
        0
        """
        with store_errors("purge", None, where=self._where()):
            return self._purge()

    def open_manager(self, session_id: str, config: PromptConfig) -> PromptManager:
        """A manager on this session that saves every change (``PromptManager.open``)."""
        from ._session import open_session

        return open_session(self, session_id, config)

    def close(self) -> None:
        """Release connections (a closed store reopens them when used again)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _same_counts(state: State, seen: Seen) -> bool:
    split = seen.split
    return (
        state["committed_counts"] == seen.counts[:split]
        and state["recent_counts"] == seen.counts[split:]
    )


def _state_of(seen: Seen) -> State:
    meta, split = seen.meta, seen.split
    state = new_state()
    if "format" in meta:
        for key in ("format", "key", "pending", "context", "history_hash", "compactions"):
            state[key] = meta[key]  # type: ignore[literal-required,unused-ignore]
    state["pending"] = list(state["pending"])
    state["committed"], state["recent"] = seen.messages[:split], seen.messages[split:]
    state["committed_counts"], state["recent_counts"] = seen.counts[:split], seen.counts[split:]
    state["committed_tokens"] = sum(state["committed_counts"])
    state["recent_tokens"] = sum(state["recent_counts"])
    return state


def _archived(record: dict[str, Any]) -> ArchivedCompaction:
    return ArchivedCompaction(
        removed=tuple(record["removed"]),
        counts=tuple(record.get("counts", ())),
        base_version=int(record.get("base", 0)),
        compactions=int(record.get("compactions", 0)),
        added=int(record.get("added", 0)),
        at=record.get("at"),
    )
