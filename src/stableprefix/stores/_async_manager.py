"""``AsyncPromptManager``: the asyncio twin of ``PromptManager``.

Approach: building requests and changing the state is pure CPU work, so
the async manager runs a plain ``PromptManager`` for it and awaits only the
store. Changes of one manager are serialised by an ``asyncio.Lock`` (two
tasks appending to the same manager land one after the other). Saving and
conflict handling follow ``StoredPromptManager`` exactly: save the change
under the version it started from; after a lost race reload the newer
state and run the operation again; if it no longer applies, keep the newer
state and raise ``ConflictError``; on any other failure restore the state
from before the operation. Events are held until the change is saved, then
delivered (a raising ``on_event`` cannot undo a saved change).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .._config import PromptConfig
from .._errors import ConflictError, StablePrefixError, StoreError
from .._state import State, copy_state
from ..adapters._base import Message
from ..functional import _check_response_id
from ._session import MAX_RETRIES, EventHolder, StoreConflictEvent, _mark

if TYPE_CHECKING:
    from .._compaction import CompactionEvent
    from ._async import AsyncStore

__all__ = ["AsyncPromptManager"]


class _Core(EventHolder):
    """The in-memory manager an ``AsyncPromptManager`` drives."""

    def take(self, state: State) -> None:
        self._state, self._unhashed = state, 0

    def settled(self) -> State:
        return self._settled()


class AsyncPromptManager:
    """A conversation for asyncio code; with ``open`` every change is saved to a store.

    Args:
        config: how requests are built and history is managed.
        state: a state to continue (validated and copied), or ``None``.

    >>> import asyncio
    >>> from stableprefix import PromptConfig
    >>> from stableprefix.stores import AsyncMemoryStore
    >>> async def main():
    ...     store = AsyncMemoryStore()
    ...     pm = await AsyncPromptManager.open(store, "chat-1", PromptConfig())
    ...     await pm.append({"role": "user", "content": "Hi"})
    ...     return (await store.load("chat-1")).version, pm.version
    >>> asyncio.run(main())
    (1, 1)
    """

    def __init__(self, config: PromptConfig, state: State | None = None) -> None:
        self._pm = _Core(config, state)
        self._lock = asyncio.Lock()
        self._store: AsyncStore | None = None
        self._session_id = ""
        self._version = 0

    @classmethod
    async def open(
        cls, store: AsyncStore, session_id: str, config: PromptConfig
    ) -> AsyncPromptManager:
        """Load (or start) a session from an async store; every change is saved.

        Raises:
            TypeError: ``config`` is not a ``PromptConfig`` or ``store`` not an async store.
            StoreError: the store is down or holds an invalid state.
        """
        from ._async import AsyncStore

        if not isinstance(store, AsyncStore):
            raise TypeError(f"store must be an async store, got {type(store).__name__}")
        manager = cls(config)
        state, version = await store.load(session_id, config=config)
        manager._pm.take(state)
        manager._store, manager._session_id, manager._version = store, session_id, version
        return manager

    # --------------------------------------------------------------- reads

    @property
    def config(self) -> PromptConfig:
        """The (immutable) config."""
        return self._pm.config

    @property
    def state(self) -> State:
        """A deep copy of the current state."""
        return self._pm.state

    @property
    def version(self) -> int:
        """The stored version the state corresponds to (0 without a store)."""
        return self._version

    @property
    def session_id(self) -> str:
        """The session saved to ("" without a store)."""
        return self._session_id

    @property
    def committed_tokens(self) -> int:
        """Tokens of committed history."""
        return self._pm.committed_tokens

    @property
    def recent_tokens(self) -> int:
        """Tokens of the turn in progress."""
        return self._pm.recent_tokens

    @property
    def fingerprint(self) -> str:
        """The prefix fingerprint (see ``functional.prefix_fingerprint``)."""
        return self._pm.fingerprint

    @property
    def last_response_id(self) -> str | None:
        """The id of the last response appended (see ``PromptManager.last_response_id``)."""
        return self._pm.last_response_id

    def dumps(self) -> str:
        """The state as JSON text."""
        return self._pm.dumps()

    async def reload(self) -> None:
        """Replace the state with the store's newest version."""
        async with self._lock:
            await self._reload()

    async def _reload(self) -> None:
        if self._store is not None:
            state, self._version = await self._store.load(self._session_id, config=self.config)
            self._pm.take(state)

    # ------------------------------------------------------------- changes

    async def _persist(self, operation: str, run: Callable[[], Any]) -> Any:
        async with self._lock:
            try:
                result = await self._commit(operation, run)
            except BaseException:
                self._pm.drop()
                raise
            self._pm.release()  # the change is saved: a raising callback cannot undo it
            return result

    async def _commit(self, operation: str, run: Callable[[], Any]) -> Any:
        """Run and save the operation, holding its events (under the lock)."""
        pm = self._pm
        before, version = copy_state(pm.settled()), self._version
        try:
            pm.hold()
            result = run()
            if self._store is not None and _mark(pm.settled()) != _mark(before):
                self._version = await self._store._save(self._session_id, pm.settled(), version)
            return result
        except ConflictError as exc:
            if exc.actual_version is not None and exc.actual_version < version:
                pm.take(before)
                raise StoreError(
                    f"the store went back from version {version} to {exc.actual_version}: "
                    "it lost the session (expired, deleted, or a restart without "
                    f"persistence); save manager.state again with expected_version="
                    f"{exc.actual_version} to restore it",
                    session_id=self._session_id,
                    operation="save",
                ) from exc
            try:
                return await self._retry(operation, run, exc)
            except BaseException:
                if self._version <= version:
                    pm.take(before)
                    self._version = version
                raise
        except BaseException:
            pm.take(before)
            raise

    async def _retry(self, operation: str, run: Callable[[], Any], first: ConflictError) -> Any:
        assert self._store is not None
        expected = self._version
        conflicts: list[StoreConflictEvent] = []
        for attempt in range(1, MAX_RETRIES + 1):
            if attempt > 1:
                await asyncio.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 7)))
            await self._reload()
            conflicts.append(
                StoreConflictEvent(
                    session_id=self._session_id,
                    operation=operation,
                    expected_version=expected,
                    actual_version=self._version,
                    attempt=attempt,
                )
            )
            latest, version = copy_state(self._pm.settled()), self._version
            try:
                self._pm.hold()  # forget the events of the attempt that lost
                for event in conflicts:
                    self._pm.note(event)
                result = run()
            except StablePrefixError as exc:
                self._pm.take(latest)
                raise ConflictError(
                    f"{operation} no longer applies to the newer version {version} another "
                    f"writer saved ({exc}); the manager now holds that version",
                    session_id=self._session_id,
                    operation=operation,
                    expected_version=expected,
                    actual_version=version,
                ) from exc
            try:
                self._version = await self._store._save(
                    self._session_id, self._pm.settled(), version
                )
                return result
            except ConflictError:
                expected = version
            except BaseException:
                self._pm.take(latest)
                raise
        raise ConflictError(
            f"{operation} lost the race {MAX_RETRIES} times in a row; retry later",
            session_id=self._session_id,
            operation=operation,
            expected_version=expected,
            actual_version=self._version,
        ) from first

    async def append(self, message: Any, *, response_id: str | None = None) -> None:
        """Append one message (and save it); ``response_id`` as for ``PromptManager``."""
        await self._persist("append", lambda: self._pm.append(message, response_id=response_id))

    async def extend(self, messages: Iterable[Any], *, response_id: str | None = None) -> None:
        """Append several messages: all or none (and save them)."""
        if isinstance(messages, (dict, str, bytes)):
            raise TypeError("extend() takes an iterable of messages; use append() for one")
        batch = list(messages)
        await self._persist("extend", lambda: self._pm.extend(batch, response_id=response_id))

    async def transition(self) -> None:
        """Move the recent turn into committed history (and save)."""
        await self._persist("transition", self._pm.transition)

    async def compact(self) -> CompactionEvent | None:
        """Compact now (and save; removed messages go to the archive)."""
        result: CompactionEvent | None = await self._persist("compact", self._pm.compact)
        return result

    async def record_context(self, text: str | None) -> None:
        """Keep the dynamic context in the turn (and save)."""
        await self._persist("record_context", lambda: self._pm.record_context(text))

    async def apply_summary(self, summary_text: str, *, keep_last_rounds: int = 2) -> None:
        """Fold older rounds into a summary (and save)."""
        await self._persist(
            "apply_summary",
            lambda: self._pm.apply_summary(summary_text, keep_last_rounds=keep_last_rounds),
        )

    # -------------------------------------------------------------- builds

    async def build_request(
        self,
        dynamic_system_prompt: str | None = None,
        *,
        previous_response_id: str | None = None,
    ) -> dict[str, Any]:
        """The SDK keyword arguments for the next request (see ``PromptManager``)."""
        _check_response_id(self._pm.config.adapter, previous_response_id)  # before saving
        await self.record_context(dynamic_system_prompt)
        return self._pm.build_request(
            dynamic_system_prompt, previous_response_id=previous_response_id
        )

    async def build_messages(self, dynamic_system_prompt: str | None = None) -> list[Message]:
        """The message list for OpenAI-style flows (see ``PromptManager``)."""
        self._pm.build_messages()  # refuse early, before recording
        await self.record_context(dynamic_system_prompt)
        return self._pm.build_messages(dynamic_system_prompt)

    def build_summary_request(self, **kwargs: Any) -> dict[str, Any]:
        """A summarisation request reusing the cached prefix (see ``PromptManager``)."""
        return self._pm.build_summary_request(**kwargs)
