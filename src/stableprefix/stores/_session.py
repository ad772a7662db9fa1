"""A ``PromptManager`` whose every change is saved to a store as it happens.

Approach: each changing operation (append, extend, transition, compact,
record_context, apply_summary) runs as in the plain manager, then saves the
difference under the version it started from. When another writer saved in
between (``ConflictError``), the manager reloads the newer state and runs
the same operation again on it: an append still applies to a conversation
that grew meanwhile, so the caller never sees the race. If the operation no
longer applies (a tool result whose call someone else already answered),
the manager keeps the newer state and raises ``ConflictError`` saying why.
Any other failure (store down, full) restores the state from before the
operation, so memory and store never disagree and the manager stays usable.

Events are delivered only for committed changes: while an operation runs
and is saved, its events (and any ``StoreConflictEvent``) are held, then
delivered once the save succeeded. An ``on_event`` callback that raises
therefore never undoes a saved change: as with the in-memory manager, the
caller gets the ``HookError`` and the manager holds the new, saved state.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._apply import deliver
from .._config import PromptConfig
from .._errors import ConflictError, StablePrefixError, StoreError
from .._events import Event
from .._manager import PromptManager
from .._state import State, copy_state

if TYPE_CHECKING:
    from .._compaction import CompactionEvent
    from ._base import Store

__all__ = [
    "MAX_RETRIES",
    "EventHolder",
    "StoreConflictEvent",
    "StoredPromptManager",
    "open_session",
]

MAX_RETRIES = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConflictEvent(Event):
    """Another writer saved the session first; the operation was re-applied on its state.

    Attributes:
        session_id: the session.
        operation: the manager method, e.g. ``"append"``.
        expected_version: the version the first attempt was based on.
        actual_version: the newer version it was re-applied to.
        attempt: 1 for the first retry, 2 for the second, ...

    >>> StoreConflictEvent(session_id="s", operation="append", expected_version=3,
    ...                    actual_version=4, attempt=1).kind
    'StoreConflictEvent'
    """

    session_id: str
    operation: str
    expected_version: int
    actual_version: int
    attempt: int


class EventHolder(PromptManager):
    """A manager that can hold its events until its change is saved.

    Between ``hold()`` and ``release()`` (or ``drop()``) the events of its
    changes are kept instead of delivered; ``release`` delivers them all
    (every one, even if the callback raises for one: then ``HookError``).
    """

    _held: list[Event] | None = None

    def _deliver(self, events: list[Event]) -> None:
        if self._held is not None:
            self._held.extend(events)
        else:
            PromptManager._deliver(self, events)

    def hold(self) -> None:
        """Keep the events of the next change (a new attempt forgets earlier ones)."""
        self._held = []

    def note(self, event: Event) -> None:
        """Hold an event of the saving itself (e.g. a conflict that was retried)."""
        if self._held is None:
            self._held = []
        self._held.append(event)

    def drop(self) -> None:
        """Forget the held events (their change was not committed)."""
        self._held = None

    def release(self) -> None:
        """Deliver the held events: their change is committed.

        Raises:
            HookError: ``on_event`` raised (the change stands; see ``PromptManager``).
        """
        events, self._held = self._held or [], None
        deliver(events, self._config, None)


def _mark(state: State) -> tuple[Any, ...]:
    committed, recent = state["committed"], state["recent"]
    return (
        len(committed),
        len(recent),
        id(committed[-1]) if committed else 0,
        id(recent[-1]) if recent else 0,
        tuple(state["pending"]),
        state["context"],
        state["compactions"],
        state["history_hash"],
    )


class StoredPromptManager(EventHolder):
    """A ``PromptManager`` bound to a session in a store (``PromptManager.open``).

    Every change is saved before the call returns; reads are from memory.

    >>> from stableprefix import PromptConfig, PromptManager
    >>> from stableprefix.stores import MemoryStore
    >>> store = MemoryStore()
    >>> a = PromptManager.open(store, "chat-1", PromptConfig())
    >>> b = PromptManager.open(store, "chat-1", PromptConfig())
    >>> a.append({"role": "user", "content": "Hi"})
    >>> b.append({"role": "assistant", "content": "Hello"})  # b catches up, then appends
    >>> [m["role"] for m in store.load("chat-1").state["committed"]]
    ['user', 'assistant']
    >>> a.version, b.version
    (1, 2)
    """

    _store: Store
    _session_id: str
    _version: int

    @property
    def session_id(self) -> str:
        """The session this manager saves to."""
        return self._session_id

    @property
    def version(self) -> int:
        """The stored version this manager's state corresponds to."""
        return self._version

    @property
    def store(self) -> Store:
        """The store it saves to."""
        return self._store

    def reload(self) -> None:
        """Replace the in-memory state with the store's newest version.

        Raises:
            StoreError: the store is down or holds an invalid state.
        """
        with self._lock:
            self._take(*self._store.load(self._session_id, config=self._config))

    def _take(self, state: State, version: int) -> None:
        self._state, self._unhashed, self._version = state, 0, version

    def _persist(self, operation: str, run: Callable[[], Any]) -> Any:
        with self._lock:
            try:
                result = self._commit(operation, run)
            except BaseException:
                self.drop()
                raise
            self.release()  # the change is saved: a raising callback cannot undo it
            return result

    def _commit(self, operation: str, run: Callable[[], Any]) -> Any:
        """Run and save the operation, holding its events (under the lock)."""
        before, version = copy_state(self._settled()), self._version
        mark = _mark(before)
        try:
            self.hold()
            result = run()
            state = self._settled()
            if _mark(state) != mark:
                self._version = self._store._save(self._session_id, state, version)
            return result
        except ConflictError as exc:
            if exc.actual_version is not None and exc.actual_version < version:
                self._take(before, version)
                raise StoreError(
                    f"the store went back from version {version} to {exc.actual_version}: "
                    "it lost the session (expired, deleted, or a restart without "
                    "persistence); this manager still holds version "
                    f"{version}: save manager.state again with expected_version="
                    f"{exc.actual_version} to restore it",
                    session_id=self._session_id,
                    operation="save",
                ) from exc
            try:
                return self._retry(operation, run, exc)
            except BaseException:
                if self._version <= version:  # no newer state was taken in
                    self._take(before, version)
                raise
        except BaseException:
            self._take(before, version)
            raise

    def _retry(self, operation: str, run: Callable[[], Any], first: ConflictError) -> Any:
        expected = self._version
        conflicts: list[Event] = []
        for attempt in range(1, MAX_RETRIES + 1):
            if attempt > 1:  # let the other writers through before trying again
                time.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 7)))
            self._take(*self._store.load(self._session_id, config=self._config))
            conflict = StoreConflictEvent(
                session_id=self._session_id,
                operation=operation,
                expected_version=expected,
                actual_version=self._version,
                attempt=attempt,
            )
            conflicts.append(conflict)
            latest, version = copy_state(self._state), self._version
            try:
                self.hold()  # forget the events of the attempt that lost
                for event in conflicts:
                    self.note(event)
                result = run()
            except StablePrefixError as exc:
                self._take(latest, version)
                raise ConflictError(
                    f"{operation} no longer applies to the newer version {version} another "
                    f"writer saved ({exc}); the manager now holds that version: look at its "
                    "state and decide again",
                    session_id=self._session_id,
                    operation=operation,
                    expected_version=expected,
                    actual_version=version,
                ) from exc
            try:
                self._version = self._store._save(self._session_id, self._settled(), version)
                return result
            except ConflictError:
                expected = version
                continue
            except BaseException:
                self._take(latest, version)
                raise
        raise ConflictError(
            f"{operation} lost the race {MAX_RETRIES} times in a row; the session is written "
            "too often from elsewhere: retry later",
            session_id=self._session_id,
            operation=operation,
            expected_version=expected,
            actual_version=self._version,
        ) from first

    # ------------------------------------------------------------- changes

    def append(self, message: Any, *, response_id: str | None = None) -> None:
        """Append one message and save it (see ``PromptManager.append``)."""
        self._persist(
            "append", lambda: PromptManager.append(self, message, response_id=response_id)
        )

    def extend(self, messages: Iterable[Any], *, response_id: str | None = None) -> None:
        """Append several messages (all or none) and save them."""
        if isinstance(messages, (dict, str, bytes)):
            raise TypeError("extend() takes an iterable of messages; use append() for one")
        batch = list(messages)
        self._persist("extend", lambda: PromptManager.extend(self, batch, response_id=response_id))

    def transition(self) -> None:
        """Commit the recent turn and save (see ``PromptManager.transition``)."""
        self._persist("transition", lambda: PromptManager.transition(self))

    def compact(self) -> CompactionEvent | None:
        """Compact now and save; removed messages go to the store's archive."""
        result: CompactionEvent | None = self._persist(
            "compact", lambda: PromptManager.compact(self)
        )
        return result

    def record_context(self, text: str | None) -> None:
        """Keep the dynamic context in the turn and save (``dynamic_position="append"``)."""
        self._persist("record_context", lambda: PromptManager.record_context(self, text))

    def apply_summary(self, summary_text: str, *, keep_last_rounds: int = 2) -> None:
        """Fold older rounds into a summary and save; the folded rounds are archived."""
        self._persist(
            "apply_summary",
            lambda: PromptManager.apply_summary(
                self, summary_text, keep_last_rounds=keep_last_rounds
            ),
        )


def open_session(store: Store, session_id: str, config: PromptConfig) -> StoredPromptManager:
    """Load (or start) ``session_id`` from ``store`` as a saving manager.

    Raises:
        TypeError: ``config`` is not a ``PromptConfig``.
        StoreError: the store is down or holds an invalid state.
    """
    if not isinstance(config, PromptConfig):
        raise TypeError(f"config must be a PromptConfig, got {type(config).__name__}")
    state, version = store.load(session_id, config=config)
    manager = StoredPromptManager(config)
    manager._store, manager._session_id = store, session_id
    manager._take(state, version)
    return manager
