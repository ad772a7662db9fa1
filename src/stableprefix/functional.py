"""The pure functional API: state in, new state (or request) out.

Approach: every operation that changes a conversation runs in two phases.
*Validate* looks at the input state and the new message without touching
anything and produces a ``Ready`` record (the message copied once, its token
count, the pending tool calls after it). *Apply* performs the change on a
working state: appending can no longer fail, and the steps that call user
code (transition hooks, compaction hooks) happen on that working copy, so an
error anywhere leaves the caller's state exactly as it was. The functions
here copy the state's lists (the messages themselves are shared, never
mutated) and return the copy; ``PromptManager`` reuses the same two phases
and applies in place when no user code can run, which keeps a turn O(1).

Events (a ``CompactionEvent`` per compaction) are delivered once the change
they report is complete, to ``config.on_event`` or to the ``on_event``
argument of the call; a call that fails reports nothing. If the callback
itself raises, every event is still delivered, and the ``HookError`` raised
afterwards carries the new state (``exc.state``): the change stands.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._adapter import Message, ProviderAdapter, RequestParts
from ._apply import (
    EventSink,
    apply_append,
    apply_context,
    compact_into,
    deliver,
    effective_position,
    maybe_compact,
    prepare_message,
    replace_history,
    transition_into,
    validate_append,
    validate_context,
)
from ._check import check_state, mark_checked
from ._compaction import CompactionEvent
from ._config import PromptConfig
from ._errors import (
    ContextError,
    InvalidConfigError,
    PendingToolCallError,
    TransitionError,
)
from ._json import check_text, sha256_hex
from ._sequence import round_starts
from ._state import State, copy_state

__all__ = [
    "DEFAULT_SUMMARY_INSTRUCTION",
    "append_message",
    "append_messages",
    "apply_summary",
    "build_messages",
    "build_request",
    "build_summary_request",
    "build_turn",
    "build_warmup_request",
    "compact",
    "compact_with_event",
    "effective_position",
    "prefix_fingerprint",
    "record_context",
    "transition",
]

DEFAULT_SUMMARY_INSTRUCTION = (
    "Summarise the conversation so far for your own later use: the user's goals, facts "
    "and decisions established, results of tool calls that still matter, and open tasks. "
    "Reply with the summary only."
)


# ------------------------------------------------------------------ public API


def _finish(
    work: State, events: list[CompactionEvent], config: PromptConfig, sink: EventSink | None
) -> State:
    """Mark the finished state, then report its events (see the module docstring)."""
    done = mark_checked(work, config.adapter)
    deliver(events, config, sink, done)
    return done


def append_message(
    state: State, message: Any, config: PromptConfig, *, on_event: EventSink | None = None
) -> State:
    """Append one message; return the new state.

    Depending on ``config.transition_mode`` the message goes to committed
    history at once (``"none"``) or to the recent turn, and an assistant
    message that calls no tool ends an ``"agent_cycle"``. History over
    ``history_max_tokens`` is compacted afterwards.

    Args:
        state: the current state (not modified).
        message: a message in the adapter's wire format.
        config: the conversation's config.
        on_event: receives the events of this call instead of
            ``config.on_event``.

    Returns:
        A new state.

    Raises:
        InvalidMessageError: the message is malformed, or answers no pending call.
        PendingToolCallError: tool calls await results and this is not one.
        HookError: a hook failed; nothing was applied.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig()
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> len(s["committed"]), s["committed"][0]["content"]
    (1, 'Hi')
    """
    return append_messages(state, [message], config, on_event=on_event)


def append_messages(
    state: State,
    messages: Iterable[Any],
    config: PromptConfig,
    *,
    on_event: EventSink | None = None,
) -> State:
    """Append several messages as one step: all of them, or none on error.

    Errors name the position of the offending message in ``messages``.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(transition_mode="agent_cycle")
    >>> s = append_messages(new_state(), [{"role": "user", "content": "Hi"},
    ...                                   {"role": "assistant", "content": "Hello!"}], cfg)
    >>> len(s["committed"]), len(s["recent"])
    (2, 0)
    """
    state = check_state(state, config)
    if isinstance(messages, (dict, str, bytes)):
        raise TypeError(
            "append_messages() takes an iterable of messages; use "
            "append_message() for a single message"
        )
    work = copy_state(state)
    events: list[CompactionEvent] = []
    for i, raw in enumerate(messages):
        apply_append(work, validate_append(work, raw, config, i), config, events)
    return _finish(work, events, config, on_event)


def transition(
    state: State, config: PromptConfig, *, on_event: EventSink | None = None
) -> State:
    """Move the recent turn into committed history (then compact if over budget).

    Raises:
        PendingToolCallError: a tool call in the turn still awaits its result.
        HookError: the transition or compaction hook failed; nothing applied.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(transition_mode="manual")
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> len(transition(s, cfg)["committed"])
    1
    """
    state = check_state(state, config)
    work = copy_state(state)
    events: list[CompactionEvent] = []
    transition_into(work, config)
    maybe_compact(work, config, events)
    return _finish(work, events, config, on_event)


def compact_with_event(state: State, config: PromptConfig) -> tuple[State, CompactionEvent | None]:
    """Compact committed history to ``config.compaction_target`` now.

    Returns the new state and the event (``None`` when nothing could be
    removed). Does not call ``on_event``: the event is returned.

    Raises:
        InvalidConfigError: ``config.history_max_tokens`` is not set.
        HookError: the compaction hook failed; nothing applied.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(history_max_tokens=1000, compaction_target=10)
    >>> s = append_messages(new_state(), [{"role": "user", "content": "one " * 30},
    ...     {"role": "assistant", "content": "ok"}, {"role": "user", "content": "two"}], cfg)
    >>> s2, event = compact_with_event(s, cfg)
    >>> len(event.removed), s2["committed"][0]["content"]
    (2, 'two')
    """
    state = check_state(state, config)
    if config.history_max_tokens is None:
        raise InvalidConfigError(
            "compact() needs a budget; set history_max_tokens (and optionally compaction_target)",
            field="history_max_tokens",
        )
    work = copy_state(state)
    event = compact_into(work, config)
    return mark_checked(work, config.adapter), event


def compact(state: State, config: PromptConfig, *, on_event: EventSink | None = None) -> State:
    """Compact committed history to the target now; deliver the event.

    See ``compact_with_event`` for the version that returns the event.

    >>> from stableprefix import PromptConfig, new_state
    >>> compact(new_state(), PromptConfig(history_max_tokens=100))["compactions"]
    0
    """
    work, event = compact_with_event(state, config)
    return _finish(work, [event] if event else [], config, on_event)


def record_context(
    state: State, text: str | None, config: PromptConfig, *, on_event: EventSink | None = None
) -> State:
    """Keep the dynamic context in the turn (``dynamic_position="append"``).

    When ``text`` differs from the last context kept, it is added as a
    message at the current end of the conversation and committed with the
    turn, so later requests stay append-only. With other placements the
    context is never stored and the state is returned unchanged.

    Raises:
        PendingToolCallError: tool calls await results (a context note may
            not come between a call and its result).

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(dynamic_position="append")
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> s = record_context(s, "time: 10:00", cfg)
    >>> s["committed"][-1]
    {'role': 'system', 'content': 'time: 10:00'}
    """
    state = check_state(state, config)
    ready = validate_context(state, text, config)
    if ready is None:
        return state
    work = copy_state(state)
    events: list[CompactionEvent] = []
    apply_context(work, ready, config, events)
    return _finish(work, events, config, on_event)


def _parts(
    state: State,
    config: PromptConfig,
    context: str | None,
    recent: list[Message] | None = None,
    position: str = "tail",
    previous_response_id: str | None = None,
) -> RequestParts:
    return RequestParts(
        tools=tuple(config.tools),
        static_system=config.static_system_prompt,
        history=state["committed"],
        recent=state["recent"] if recent is None else recent,
        context=context,
        position=position,
        conversation_key=state["key"],
        static_tokens=config.static_tokens,
        history_tokens=state["committed_tokens"],
        recent_counts=state["recent_counts"] if recent is None else (),
        mark_recent=recent is None,
        previous_response_id=previous_response_id,
    )


def _check_response_id(adapter: ProviderAdapter, response_id: str | None) -> None:
    """Refuse a previous response id the adapter would not send, or one not a string.

    Raises:
        TypeError: ``response_id`` is not a non-empty string or ``None``.
        UnsupportedError: the adapter was not built with ``provider_diagnostics=True``.
    """
    if response_id is None:
        return
    if not isinstance(response_id, str) or not response_id:
        raise TypeError(
            f"previous_response_id must be a non-empty str or None, got {response_id!r}"
        )
    if not getattr(adapter, "provider_diagnostics", False):
        from ._errors import UnsupportedError

        raise UnsupportedError(
            "previous_response_id is sent only for the provider's cache diagnostics; build "
            "the adapter with provider_diagnostics=True (AnthropicAdapter, "
            "OpenAIResponsesAdapter) or leave previous_response_id out",
            provider=adapter.name,
        )


def _request_parts(
    state: State,
    config: PromptConfig,
    dynamic: str | None,
    previous_response_id: str | None = None,
) -> RequestParts:
    """The parts of a request from a state already checked (the manager's own)."""
    if dynamic is not None and not isinstance(dynamic, str):
        raise TypeError(
            f"dynamic_system_prompt must be a str or None, got {type(dynamic).__name__}"
        )
    check_text(dynamic, "dynamic_system_prompt")
    if state["pending"]:
        raise PendingToolCallError(
            "cannot build a request while tool calls await results; append the tool results first",
            pending=state["pending"],
        )
    position = effective_position(config, dynamic)
    if position == "append" and dynamic and dynamic != state["context"]:
        if config.dynamic_position == "append":
            raise ContextError(
                "with dynamic_position='append' the context is kept in the turn: call "
                "record_context(state, text, config) first, or build_turn(), which does both"
            )
        # "auto" and a context nobody recorded: the tail is the layout that
        # needs no state change (build_turn and the manager record it instead).
        position = "tail"
    elif position == "append":
        dynamic = None
    return _parts(
        state, config, dynamic or None, position=position, previous_response_id=previous_response_id
    )


def build_request(
    state: State,
    config: PromptConfig,
    dynamic_system_prompt: str | None = None,
    *,
    model: str | None = None,
    previous_response_id: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments for the provider SDK call.

    ``client.chat.completions.create(model=..., **request)`` for OpenAI,
    ``client.messages.create(model=..., max_tokens=..., **request)`` for
    Anthropic. The request shares message objects with the state: treat it
    as read-only. A context that ``"auto"`` would keep in the turn goes to
    the tail unless it was recorded; ``build_turn`` records and builds.
    ``model`` builds for another model than the adapter's (OpenAI adapters:
    the cache rules follow the model), e.g. when a request is routed.
    ``previous_response_id``: the ``id`` of the response to the previous
    request, sent for the provider's cache diagnostics by an adapter built
    with ``provider_diagnostics=True`` (keep it next to the state between
    calls; ``PromptManager`` fills it in itself).

    Raises:
        PendingToolCallError: tool calls await results.
        ContextError: with ``"append"``, the context was not recorded first.
        UnsupportedError: ``model`` is given but the adapter has no per-model
            rules, or ``previous_response_id`` is given to an adapter without
            ``provider_diagnostics``.
        TypeError: ``previous_response_id`` is not a non-empty string.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(static_system_prompt="Be brief.")
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> [m["role"] for m in build_request(s, cfg, "time: 10:00")["messages"]]
    ['system', 'user', 'system']
    """
    state = check_state(state, config)
    adapter = _adapter_for(config, model)
    _check_response_id(adapter, previous_response_id)
    parts = _request_parts(state, config, dynamic_system_prompt, previous_response_id)
    return adapter.render(parts)


def _adapter_for(config: PromptConfig, model: str | None) -> ProviderAdapter:
    """The config's adapter, or its copy for ``model`` (per-request model).

    Raises:
        UnsupportedError: the adapter has no per-model rules (no ``with_model``).
        ValueError: an option of the adapter does not fit ``model``.
    """
    if model is None:
        return config.adapter
    with_model = getattr(config.adapter, "with_model", None)
    if with_model is None:
        from ._errors import UnsupportedError

        raise UnsupportedError(
            "this adapter has no per-model cache rules; build without model=",
            provider=config.adapter.name,
        )
    adapter: ProviderAdapter = with_model(model)
    return adapter


def build_messages(
    state: State, config: PromptConfig, dynamic_system_prompt: str | None = None
) -> list[Message]:
    """The message list alone, for providers whose system prompt is a message.

    Raises:
        UnsupportedError: the provider keeps the system prompt outside the
            messages (Anthropic, Gemini): use ``build_request``.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(static_system_prompt="Be brief.")
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> len(build_messages(s, cfg))
    2
    """
    from ._errors import UnsupportedError

    if not config.adapter.system_in_messages:
        raise UnsupportedError(
            "build_messages() would silently drop the system prompt, which this provider "
            "takes outside the message list; use build_request() and pass all of it to the SDK",
            provider=config.adapter.name,
        )
    state = check_state(state, config)
    return config.adapter.render_messages(_request_parts(state, config, dynamic_system_prompt))


def build_turn(
    state: State,
    config: PromptConfig,
    dynamic_system_prompt: str | None = None,
    *,
    previous_response_id: str | None = None,
) -> tuple[State, dict[str, Any]]:
    """Record the dynamic context if needed, then build: ``(new_state, request)``.

    The one call a stateless handler needs for any ``dynamic_position``;
    ``previous_response_id`` as for ``build_request``.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(dynamic_position="append")
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> s, req = build_turn(s, cfg, "time: 10:00")
    >>> req["messages"][-1]["content"], s["context"]
    ('time: 10:00', 'time: 10:00')
    """
    _check_response_id(config.adapter, previous_response_id)
    new = record_context(state, dynamic_system_prompt, config)
    request = build_request(
        new, config, dynamic_system_prompt, previous_response_id=previous_response_id
    )
    return new, request


def build_warmup_request(state: State, config: PromptConfig) -> dict[str, Any]:
    """The smallest request that writes the shared prefix, before a fan-out.

    Tools, static system prompt and committed history with their usual
    cache markers, plus a one-line instruction. Send it with
    ``max_tokens=1`` and send the parallel sub-requests once its response
    has begun: they then read the prefix instead of each writing it.

    Raises:
        PendingToolCallError: tool calls await results.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(static_system_prompt="Be brief.")
    >>> [m["role"] for m in build_warmup_request(new_state(), cfg)["messages"]]
    ['system', 'user']
    """
    from ._warmup import warmup_request

    state = check_state(state, config)
    return warmup_request(state, config)


def build_summary_request(
    state: State, config: PromptConfig, *, instruction: str = DEFAULT_SUMMARY_INSTRUCTION
) -> dict[str, Any]:
    """A summarisation request that reuses the cached prefix.

    The request is exactly [tools][static][committed history] followed by
    ``instruction`` as a user message, so the provider reads the history from
    its cache. Send it, then pass the reply text to ``apply_summary``.

    Raises:
        TransitionError: there is no committed history to summarise.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig()
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> build_summary_request(s, cfg, instruction="Summarise.")["messages"][-1]
    {'role': 'user', 'content': 'Summarise.'}
    """
    state = check_state(state, config)
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("instruction must be a non-empty string")
    check_text(instruction, "instruction")
    if not state["committed"]:
        raise TransitionError("there is no committed history to summarise yet")
    committed_pending = tuple(state["pending"]) if not state["recent"] else ()
    if committed_pending:
        raise PendingToolCallError(
            "cannot summarise while a tool call awaits its result", pending=committed_pending
        )
    return config.adapter.render(
        _parts(state, config, None, [config.adapter.instruction_message(instruction)])
    )


def apply_summary(
    state: State,
    summary_text: str,
    config: PromptConfig,
    *,
    keep_last_rounds: int = 2,
    on_event: EventSink | None = None,
) -> State:
    """Replace all but the newest ``keep_last_rounds`` rounds with a summary.

    The summary becomes the first history message (a user message); the
    folded messages are reported in a ``CompactionEvent``.

    Raises:
        TransitionError: history has no more than ``keep_last_rounds`` rounds.
        InvalidMessageError: the summary is empty.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig()
    >>> s = append_messages(new_state(), [{"role": "user", "content": "a"},
    ...     {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}], cfg)
    >>> [m["content"] for m in apply_summary(s, "We said a/b.", cfg,
    ...                                      keep_last_rounds=1)["committed"]]
    ['We said a/b.', 'c']
    """
    state = check_state(state, config)
    if not isinstance(summary_text, str):
        raise TypeError(f"summary_text must be a str, got {type(summary_text).__name__}")
    if (
        isinstance(keep_last_rounds, bool)
        or not isinstance(keep_last_rounds, int)
        or (keep_last_rounds < 0)
    ):
        raise ValueError(f"keep_last_rounds must be an int >= 0, got {keep_last_rounds!r}")
    committed = state["committed"]
    starts = round_starts(committed, config.adapter)
    if len(starts) <= keep_last_rounds:
        raise TransitionError(
            f"history has {len(starts)} round(s); nothing older than the "
            f"last {keep_last_rounds} to fold into a summary"
        )
    cut = starts[len(starts) - keep_last_rounds] if keep_last_rounds else len(committed)
    if cut == len(committed) and state["pending"] and not state["recent"]:
        raise PendingToolCallError(
            "cannot fold a tool call that awaits its result", pending=state["pending"]
        )
    summary = prepare_message(config.adapter.summary_message(summary_text), config, 0)
    tokens = config.adapter.count_tokens(summary)
    work = copy_state(state)
    before = work["committed_tokens"]
    removed = tuple(committed[:cut])
    replace_history(
        work, [summary, *committed[cut:]], [tokens, *work["committed_counts"][cut:]], config
    )
    event = CompactionEvent(
        removed=removed,
        added=(summary,),
        tokens_before=before,
        tokens_after=work["committed_tokens"],
        target_tokens=config.compaction_target or work["committed_tokens"],
        strategy="summary",
    )
    return _finish(work, [event], config, on_event)


def prefix_fingerprint(state: State, config: PromptConfig) -> str:
    """A hash of the cacheable prefix: tools, static prompt, committed history.

    It changes exactly when the cacheable prefix changes (a compaction, other
    tools or prompt), and grows by chaining when history is appended.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(static_system_prompt="x")
    >>> prefix_fingerprint(new_state(), cfg) == prefix_fingerprint(new_state(), cfg)
    True
    """
    state = check_state(state, config)
    return sha256_hex(config.prefix_hash + state["history_hash"])
