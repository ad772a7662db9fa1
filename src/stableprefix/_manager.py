"""``PromptManager``: the stateful, thread-safe front of the functional core.

Approach: the manager owns its state exclusively. Each operation first runs
the functional *validate* phase against it without changing anything. When
applying cannot call user code (no hook, no compaction), the change is made
in place: appending to a list cannot fail, so nothing is ever half-applied
and a turn costs O(1) however long the history. On that path the messages
newly committed are folded into ``history_hash`` lazily, the first time
anything reads the state, so a turn does not pay for hashing it may never
need. Otherwise the change runs on a copy that is swapped in only after
every step succeeded. One lock serialises all of it.

User code runs in two places. Hooks and token counters run *while* a
change is computed; if one calls back into the same manager to change it,
that call is refused (``TransitionError``), because its change would be
lost when the computed state is swapped in. Events are delivered *after*
the swap, so an ``on_event`` callback sees the new state and may change the
manager again (its change applies on top; nothing is lost).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from . import _apply as A
from . import functional as F
from ._adapter import Message
from ._check import check_state, mark_checked
from ._compaction import CompactionEvent
from ._config import PromptConfig
from ._errors import TransitionError
from ._events import Event
from ._state import (
    MessageTexts,
    State,
    copy_state,
    deep_copy_state,
    dump_valid,
    loads,
    new_state,
)

__all__ = ["PromptManager"]


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
        self._state: State = (
            new_state() if state is None else deep_copy_state(check_state(state, config))
        )
        self._unhashed = 0  # committed messages not yet folded into history_hash
        self._last_response_id: str | None = None
        self._busy = False  # a change is being computed (user code may be running)
        # The JSON of messages already written by dumps(), kept from the
        # second call on (a manager dumped once, as in a request handler,
        # keeps nothing).
        self._texts: MessageTexts | None = None

    def _enter(self) -> None:
        """Refuse a change from inside a hook of a change in progress (under the lock)."""
        if self._busy:
            raise TransitionError(
                "a hook or token counter called back into the PromptManager that is "
                "running it; change the manager from on_event (called after the change is "
                "applied) or after the call returns"
            )
        self._busy = True

    def _deliver(self, events: list[Event]) -> None:
        """Report the events of a change already swapped in (under the lock, not busy)."""
        A.deliver(events, self._config, None)

    def _marked(self) -> State:
        """The settled state, marked as checked for the functional API (under the lock)."""
        return mark_checked(self._settled(), self._config.adapter)

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
        manager = cls(config)
        # The parsed document is ours alone: checked, it needs no copy.
        manager._state = dict(check_state(loads(text), config))  # type: ignore[assignment]
        return manager

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
            return mark_checked(deep_copy_state(self._settled()), self._config.adapter)

    def dumps(self) -> str:
        """The state as JSON text (see ``stableprefix.dumps``)."""
        with self._lock:
            # Valid by construction; its messages are never changed, so the
            # text of those already written is reused. Writing messages one
            # by one costs more than one call of the encoder, so the first
            # call does that and only the next ones build and reuse texts.
            text = dump_valid(self._settled(), self._texts, self._config.adapter)
            if self._texts is None:
                self._texts = {}
            return text

    # -------------------------------------------------------------- changes

    def append(self, message: Any, *, response_id: str | None = None) -> None:
        """Append one message (see ``functional.append_message``).

        Args:
            message: the message; a provider's whole response object (an
                Anthropic ``Message``) is kept as its role and content, and
                its ``id`` becomes ``last_response_id``.
            response_id: the id of the response ``message`` came from, when
                the message itself does not carry it (an item of an OpenAI
                Responses ``response.output``: pass ``response.id``).

        >>> from stableprefix import PromptConfig
        >>> pm = PromptManager(PromptConfig()); pm.append({"role": "user", "content": "Hi"})
        >>> pm.committed_tokens > 0
        True
        """
        self._check_response_id(response_id)
        events: list[Event] = []
        with self._lock:
            self._enter()
            try:
                ready = A.validate_append(self._state, message, self._config, 0)
                if A.will_run_user_code(self._state, ready, self._config):
                    self._state = F.append_messages(
                        self._marked(), [message], self._config, on_event=events.append
                    )
                else:
                    self._apply_fast(ready)
                if response_id is not None or not isinstance(message, dict):
                    self._note_response([message], response_id)
            finally:
                self._busy = False
            self._deliver(events)

    def _note_response(self, messages: list[Any], response_id: str | None) -> None:
        """Remember the id of the response just appended (under the lock, after applying)."""
        if response_id is None:
            # a whole SDK response carries usage; its items (with ids of their own) do not
            whole = [m for m in messages if not isinstance(m, Mapping) and hasattr(m, "usage")]
            found = getattr(whole[-1], "id", None) if whole else None
            response_id = found if isinstance(found, str) and found else None
        if response_id is not None:
            self._last_response_id = response_id

    @staticmethod
    def _check_response_id(response_id: object) -> None:
        if response_id is not None and (not isinstance(response_id, str) or not response_id):
            raise TypeError(f"response_id must be a non-empty str or None, got {response_id!r}")

    def extend(self, messages: Iterable[Any], *, response_id: str | None = None) -> None:
        """Append several messages: all of them, or none on error.

        ``response_id``: the id of the response the messages came from (for
        an OpenAI Responses reply: ``pm.extend(response.output,
        response_id=response.id)``); it becomes ``last_response_id``.

        >>> from stableprefix import PromptConfig
        >>> pm = PromptManager(PromptConfig())
        >>> pm.extend([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])
        >>> len(pm.state["committed"])
        2
        """
        if isinstance(messages, (dict, str, bytes)):
            raise TypeError("extend() takes an iterable of messages; use append() for one")
        self._check_response_id(response_id)
        batch = list(messages)
        events: list[Event] = []
        with self._lock:
            self._enter()
            try:
                self._extend(batch, events)
                self._note_response(batch, response_id)
            finally:
                self._busy = False
            self._deliver(events)

    def _extend(self, batch: list[Any], events: list[Event]) -> None:
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
        self._state = F.append_messages(self._marked(), batch, cfg, on_event=events.append)

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
        events: list[Event] = []
        with self._lock:
            self._enter()
            try:
                self._state = F.transition(self._marked(), self._config, on_event=events.append)
            finally:
                self._busy = False
            self._deliver(events)

    def compact(self) -> CompactionEvent | None:
        """Compact committed history to the target now; return the event (also delivered).

        >>> from stableprefix import PromptConfig
        >>> PromptManager(PromptConfig(history_max_tokens=100)).compact() is None
        True
        """
        with self._lock:
            self._enter()
            try:
                work, event = F.compact_with_event(self._marked(), self._config)
                self._state = work
            finally:
                self._busy = False
            self._deliver([event] if event else [])
            return event

    def record_context(self, text: str | None) -> None:
        """Keep the dynamic context in the turn (``dynamic_position="append"``)."""
        events: list[Event] = []
        with self._lock:
            self._enter()
            try:
                self._record_context(text, events)
            finally:
                self._busy = False
            self._deliver(events)

    def _record_context(self, text: str | None, events: list[Event]) -> None:
        ready = A.validate_context(self._state, text, self._config)
        if ready is None:
            return
        if not A.will_run_user_code(self._state, ready, self._config):
            self._apply_fast(ready, context=True)
            return
        self._state = F.record_context(self._marked(), text, self._config, on_event=events.append)

    def apply_summary(self, summary_text: str, *, keep_last_rounds: int = 2) -> None:
        """Fold older rounds into a summary (see ``functional.apply_summary``)."""
        events: list[Event] = []
        with self._lock:
            self._enter()
            try:
                self._state = F.apply_summary(
                    self._marked(),
                    summary_text,
                    self._config,
                    keep_last_rounds=keep_last_rounds,
                    on_event=events.append,
                )
            finally:
                self._busy = False
            self._deliver(events)

    # --------------------------------------------------------------- builds

    def build_request(
        self,
        dynamic_system_prompt: str | None = None,
        *,
        model: str | None = None,
        previous_response_id: str | None = None,
    ) -> dict[str, Any]:
        """The SDK keyword arguments for the next request.

        With ``dynamic_position="append"`` a changed context is first kept in
        the turn (so the next request stays append-only). ``model``: build
        for another model than the adapter's (see ``functional.build_request``).
        With an adapter built with ``provider_diagnostics=True`` the request
        asks the provider for its cache diagnostics against
        ``previous_response_id``, by default ``last_response_id``.

        >>> from stableprefix import AnthropicAdapter, PromptConfig
        >>> pm = PromptManager(PromptConfig(adapter=AnthropicAdapter(provider_diagnostics=True)))
        >>> pm.append({"role": "user", "content": "Hi"})
        >>> pm.build_request()["diagnostics"]
        {'previous_message_id': None}
        >>> pm.append({"role": "assistant", "content": "Hello"}, response_id="msg_01")
        >>> pm.append({"role": "user", "content": "Bye"})
        >>> pm.build_request()["diagnostics"]
        {'previous_message_id': 'msg_01'}
        """
        with self._lock:
            adapter = F._adapter_for(self._config, model)  # refuse a bad model before recording
            if previous_response_id is None and getattr(adapter, "provider_diagnostics", False):
                previous_response_id = self._last_response_id
            F._check_response_id(adapter, previous_response_id)
            if dynamic_system_prompt is not None:  # None records nothing: skip the round trip
                self.record_context(dynamic_system_prompt)
            parts = F._request_parts(
                self._state, self._config, dynamic_system_prompt, previous_response_id
            )
            return adapter.render(parts)

    def build_messages(self, dynamic_system_prompt: str | None = None) -> list[Message]:
        """The message list for OpenAI-style flows (see ``functional.build_messages``)."""
        with self._lock:
            F.build_messages(self._marked(), self._config)  # refuse early, before recording
            self.record_context(dynamic_system_prompt)
            parts = F._request_parts(self._state, self._config, dynamic_system_prompt)
            return self._config.adapter.render_messages(parts)

    def build_warmup_request(self) -> dict[str, Any]:
        """The smallest request that writes the shared prefix (see
        ``functional.build_warmup_request``); the state is not changed."""
        with self._lock:
            return F.build_warmup_request(self._marked(), self._config)

    def build_summary_request(
        self, *, instruction: str = F.DEFAULT_SUMMARY_INSTRUCTION
    ) -> dict[str, Any]:
        """A summarisation request reusing the cached prefix."""
        with self._lock:
            return F.build_summary_request(self._marked(), self._config, instruction=instruction)

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
        """The ``id`` of the last response appended (``None`` before one).

        Set by appending a whole SDK response (an Anthropic ``Message``) or
        by ``append(..., response_id=)`` / ``extend(..., response_id=)``.
        ``build_request`` sends it for the provider's cache diagnostics when
        the adapter has ``provider_diagnostics=True``.

        It is not part of the state document, so ``dumps``/``loads`` and the
        stores do not keep it: the state holds only what its check can
        verify against the messages (an id is not derived from them); the
        providers compare against a recent response only (minutes to hours,
        not the life of a conversation); and with several writers on one
        session the id last saved may answer another writer's request. A
        handler that rebuilds its manager per request passes the id it
        kept itself: ``build_request(previous_response_id=...)``.

        >>> from stableprefix import PromptConfig
        >>> PromptManager(PromptConfig()).last_response_id is None
        True
        """
        return self._last_response_id

    @property
    def fingerprint(self) -> str:
        """The prefix fingerprint (see ``functional.prefix_fingerprint``)."""
        with self._lock:
            return F.prefix_fingerprint(self._marked(), self._config)

    def snapshot(self) -> State:
        """A cheap copy of the state sharing message objects (do not modify them)."""
        with self._lock:
            return mark_checked(copy_state(self._settled()), self._config.adapter)
