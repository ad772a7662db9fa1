"""``PromptManager``: the stateful, thread-safe front of the functional core.

Approach: the manager owns its state exclusively. Each operation first runs
the functional *validate* phase against it without changing anything. When
applying cannot call user code (no hook, no compaction), the change is made
in place: appending to a list cannot fail, so nothing is ever half-applied
and a turn costs O(1) however long the history. On that path the messages
newly committed are folded into ``history_hash`` lazily, the first time
anything reads the state, so a turn does not pay for hashing it may never
need. Otherwise the change runs on a copy that is swapped in only after
every step, including delivery of compaction events, succeeded. One lock
serialises all of it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from . import _apply as A
from . import functional as F
from ._adapter import Message
from ._compaction import CompactionEvent
from ._config import PromptConfig
from ._errors import InvalidStateError, StablePrefixError
from ._json import copy_json
from ._sequence import check_sequence
from ._state import State, copy_state, dumps, loads, new_state, validate_state

__all__ = ["PromptManager"]


def _adopt(state: State, config: PromptConfig, *, owned: bool = False) -> State:
    """Validate a state completely against the adapter; copy it unless ``owned``.

    ``owned`` is for a document this module just parsed, which nobody else
    holds and which ``loads`` already validated structurally.
    """
    if not owned:
        validate_state(state)
        state = copy_json(state)
    A.check_format(state, config)
    adapter = config.adapter
    for part in ("committed", "recent"):
        for i, message in enumerate(state[part]):  # type: ignore[literal-required,unused-ignore]
            try:
                adapter.validate_message(message, index=i)
            except StablePrefixError as exc:
                raise InvalidStateError(str(exc), path=f"$.{part}[{i}]") from exc
    try:
        pending = check_sequence([*state["committed"], *state["recent"]], adapter)
    except StablePrefixError as exc:
        raise InvalidStateError(f"messages are out of order: {exc}") from exc
    if list(pending) != state["pending"]:
        raise InvalidStateError(
            f"lists {state['pending']} but the messages leave {list(pending)} awaiting results",
            path="$.pending",
        )
    return state


class PromptManager:
    """A conversation kept in memory, safe to share between threads.

    Args:
        config: how requests are built and history is managed.
        state: a state to continue (validated and copied), or ``None``.

    Raises:
        TypeError: ``config`` is not a ``PromptConfig``.
        InvalidStateError: ``state`` is malformed or for another provider.

    >>> from stableprefix import PromptConfig, PromptManager
    >>> pm = PromptManager(PromptConfig(static_system_prompt="Be brief.",
    ...                                 transition_mode="agent_cycle"))
    >>> pm.append({"role": "user", "content": "Hi"})
    >>> [m["role"] for m in pm.build_request("time: 10:00")["messages"]]
    ['system', 'user', 'system']
    >>> pm.append({"role": "assistant", "content": "Hello!"})
    >>> [m["role"] for m in pm.state["committed"]]  # the context is never committed
    ['user', 'assistant']
    """

    def __init__(self, config: PromptConfig, state: State | None = None) -> None:
        if not isinstance(config, PromptConfig):
            raise TypeError(f"config must be a PromptConfig, got {type(config).__name__}")
        self._config = config
        self._lock = threading.RLock()
        self._state: State = new_state() if state is None else _adopt(state, config)
        self._unhashed = 0  # committed messages not yet folded into history_hash
        self._last_response_id: str | None = None

    def _settled(self) -> State:
        """The state with ``history_hash`` brought up to date (call under the lock)."""
        if self._unhashed:
            A.extend_hash(self._state, self._unhashed)
            self._unhashed = 0
        return self._state

    def _apply_fast(self, ready: A.Ready, *, context: bool = False) -> None:
        """Apply in place a change that runs no user code (call under the lock)."""
        state = self._state
        before = len(state["committed"])
        if context:
            A.apply_context(state, ready, self._config, [], chain=False)
        else:
            A.apply_append(state, ready, self._config, [], chain=False)
        self._unhashed += len(state["committed"]) - before

    @classmethod
    def _from_owned(cls, config: PromptConfig, state: State) -> PromptManager:
        manager = cls(config)
        manager._state = _adopt(state, config, owned=True)
        return manager

    @classmethod
    def loads(cls, text: str | bytes, config: PromptConfig) -> PromptManager:
        """A manager continuing the conversation serialised in ``text``.

        >>> from stableprefix import PromptConfig
        >>> cfg = PromptConfig()
        >>> pm = PromptManager(cfg); pm.append({"role": "user", "content": "Hi"})
        >>> PromptManager.loads(pm.dumps(), cfg).state == pm.state
        True
        """
        if not isinstance(config, PromptConfig):
            raise TypeError(f"config must be a PromptConfig, got {type(config).__name__}")
        return cls._from_owned(config, loads(text))

    @classmethod
    def open(cls, store: Any, session_id: str, config: PromptConfig) -> PromptManager:
        """A manager on a conversation kept in a store; every change is saved as it happens.

        Loads the session (or starts it when the store has none). When
        another writer saved the session in between, the manager re-applies
        its operation to the newer state itself.

        Args:
            store: a store from ``stableprefix.stores`` (memory, SQLite, Redis).
            session_id: your conversation id.
            config: how requests are built and history is managed.

        Raises:
            TypeError: ``store`` is not a store, or ``config`` not a ``PromptConfig``.
            StoreError: the store is down or holds an invalid state.

        >>> from stableprefix import PromptConfig
        >>> from stableprefix.stores import MemoryStore
        >>> store = MemoryStore()
        >>> PromptManager.open(store, "chat-9", PromptConfig()).append(
        ...     {"role": "user", "content": "Hi"})
        >>> PromptManager.open(store, "chat-9", PromptConfig()).state["committed"]
        [{'role': 'user', 'content': 'Hi'}]
        """
        opener = getattr(store, "open_manager", None)
        if opener is None:
            raise TypeError(f"store must be a stableprefix store, got {type(store).__name__}")
        manager: PromptManager = opener(session_id, config)
        return manager

    @property
    def config(self) -> PromptConfig:
        """The (immutable) config."""
        return self._config

    @property
    def state(self) -> State:
        """A deep copy of the current state; changing it cannot affect the manager."""
        with self._lock:
            snapshot: State = copy_json(self._settled())
        return snapshot

    def dumps(self) -> str:
        """The state as JSON text (see ``stableprefix.dumps``)."""
        with self._lock:
            return dumps(self._settled())

    # -------------------------------------------------------------- changes

    def append(self, message: Any) -> None:
        """Append one message (see ``functional.append_message``).

        >>> from stableprefix import PromptConfig
        >>> pm = PromptManager(PromptConfig()); pm.append({"role": "user", "content": "Hi"})
        >>> pm.committed_tokens > 0
        True
        """
        with self._lock:
            ready = A.validate_append(self._state, message, self._config, 0)
            if A.will_run_user_code(self._state, ready, self._config):
                self._state = F.append_messages(self._settled(), [message], self._config)
            else:
                self._apply_fast(ready)
            rid = None if isinstance(message, Mapping) else getattr(message, "id", None)
            if isinstance(rid, str):
                self._last_response_id = rid

    def extend(self, messages: Iterable[Any]) -> None:
        """Append several messages: all of them, or none on error.

        >>> from stableprefix import PromptConfig
        >>> pm = PromptManager(PromptConfig())
        >>> pm.extend([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])
        >>> len(pm.state["committed"])
        2
        """
        if isinstance(messages, (dict, str, bytes)):
            raise TypeError("extend() takes an iterable of messages; use append() for one")
        batch = list(messages)
        with self._lock:
            cfg, state = self._config, self._state
            readies: list[A.Ready] = []
            pending, empty = tuple(state["pending"]), not state["committed"] and not state["recent"]
            for i, raw in enumerate(batch):
                ready = A.validate_append(state, raw, cfg, i, pending=pending, empty=empty)
                readies.append(ready)
                pending, empty = ready.pending, False
            if self._in_place(readies):
                for ready in readies:
                    self._apply_fast(ready)
                return
            self._state = F.append_messages(self._settled(), batch, cfg)

    def _in_place(self, readies: list[A.Ready]) -> bool:
        """Whether the batch can be applied without any user code running."""
        if len(readies) == 1:
            return not A.will_run_user_code(self._state, readies[0], self._config)
        cfg = self._config
        return cfg.history_max_tokens is None and (
            cfg.transition_hook is None or cfg.transition_mode == "manual"
        )

    def transition(self) -> None:
        """Move the recent turn into committed history (see ``functional.transition``)."""
        with self._lock:
            self._state = F.transition(self._settled(), self._config)

    def compact(self) -> CompactionEvent | None:
        """Compact committed history to the target now; return the event (also delivered).

        >>> from stableprefix import PromptConfig
        >>> PromptManager(PromptConfig(history_max_tokens=100)).compact() is None
        True
        """
        with self._lock:
            work, event = F.compact_with_event(self._settled(), self._config)
            A.deliver([event] if event else [], self._config, None)
            self._state = work
            return event

    def record_context(self, text: str | None) -> None:
        """Keep the dynamic context in the turn (``dynamic_position="append"``)."""
        with self._lock:
            ready = A.validate_context(self._state, text, self._config)
            if ready is None:
                return
            if not A.will_run_user_code(self._state, ready, self._config):
                self._apply_fast(ready, context=True)
                return
            self._state = F.record_context(self._settled(), text, self._config)

    def apply_summary(self, summary_text: str, *, keep_last_rounds: int = 2) -> None:
        """Fold older rounds into a summary (see ``functional.apply_summary``)."""
        with self._lock:
            self._state = F.apply_summary(
                self._settled(), summary_text, self._config, keep_last_rounds=keep_last_rounds
            )

    # --------------------------------------------------------------- builds

    def build_request(
        self, dynamic_system_prompt: str | None = None, *, model: str | None = None
    ) -> dict[str, Any]:
        """The SDK keyword arguments for the next request.

        With ``dynamic_position="append"`` a changed context is first kept in
        the turn (so the next request stays append-only). ``model``: build
        for another model than the adapter's (see ``functional.build_request``).
        """
        with self._lock:
            F._adapter_for(self._config, model)  # refuse a bad model before recording
            self.record_context(dynamic_system_prompt)
            return F.build_request(self._state, self._config, dynamic_system_prompt, model=model)

    def build_messages(self, dynamic_system_prompt: str | None = None) -> list[Message]:
        """The message list for OpenAI-style flows (see ``functional.build_messages``)."""
        with self._lock:
            F.build_messages(self._state, self._config)  # refuse early, before recording
            self.record_context(dynamic_system_prompt)
            return F.build_messages(self._state, self._config, dynamic_system_prompt)

    def build_warmup_request(self) -> dict[str, Any]:
        """The smallest request that writes the shared prefix (see
        ``functional.build_warmup_request``); the state is not changed."""
        with self._lock:
            return F.build_warmup_request(self._state, self._config)

    def build_summary_request(
        self, *, instruction: str = F.DEFAULT_SUMMARY_INSTRUCTION
    ) -> dict[str, Any]:
        """A summarisation request reusing the cached prefix."""
        with self._lock:
            return F.build_summary_request(self._state, self._config, instruction=instruction)

    # ---------------------------------------------------------------- reads

    @property
    def committed_tokens(self) -> int:
        """Tokens of committed history (a running total, O(1))."""
        return self._state["committed_tokens"]

    @property
    def recent_tokens(self) -> int:
        """Tokens of the turn in progress."""
        return self._state["recent_tokens"]

    @property
    def last_response_id(self) -> str | None:
        """The ``id`` of the last SDK response object appended (``None`` before one).

        What the providers' cache diagnostics compare against (see
        ``stableprefix.diagnostics.CacheMonitor.prepare``); not persisted.

        >>> from stableprefix import PromptConfig
        >>> PromptManager(PromptConfig()).last_response_id is None
        True
        """
        return self._last_response_id

    @property
    def fingerprint(self) -> str:
        """The prefix fingerprint (see ``functional.prefix_fingerprint``)."""
        with self._lock:
            return F.prefix_fingerprint(self._settled(), self._config)

    def snapshot(self) -> State:
        """A cheap copy of the state sharing message objects (do not modify them)."""
        with self._lock:
            return copy_state(self._settled())
