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

Compaction events are delivered after everything succeeded, to
``config.on_compaction`` or to the ``on_compaction`` argument of the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._compaction import CompactionEvent, cut_index, diff_messages, run_hook, validate_messages
from ._config import PromptConfig
from ._errors import (
    ContextError,
    HookError,
    InvalidConfigError,
    InvalidMessageError,
    InvalidStateError,
    PendingToolCallError,
    TransitionError,
)
from ._json import EMPTY_HASH, JSONPathError, chain_hash, copy_json, sha256_hex
from ._sequence import advance, round_starts
from ._state import State, copy_state
from .adapters._base import Message, RequestParts

__all__ = [
    "DEFAULT_SUMMARY_INSTRUCTION",
    "append_message",
    "append_messages",
    "apply_summary",
    "build_messages",
    "build_request",
    "build_summary_request",
    "build_turn",
    "compact",
    "compact_with_event",
    "effective_position",
    "prefix_fingerprint",
    "record_context",
    "transition",
]

EventSink = Callable[[CompactionEvent], object]

DEFAULT_SUMMARY_INSTRUCTION = (
    "Summarise the conversation so far for your own later use: the user's goals, facts "
    "and decisions established, results of tool calls that still matter, and open tasks. "
    "Reply with the summary only."
)


@dataclass(frozen=True, slots=True)
class Ready:
    """A validated message, ready to be applied."""

    message: Message
    tokens: int
    pending: tuple[str, ...]
    is_context: bool = False
    context: str | None = None


# ----------------------------------------------------------------- validation


def check_format(state: State, config: PromptConfig) -> None:
    """Refuse a state written for another provider's message format."""
    fmt = state.get("format") if isinstance(state, dict) else None
    if not isinstance(state, dict) or "committed" not in state:
        raise TypeError(f"state must be a state dict (see new_state()), got {type(state).__name__}")
    if fmt is not None and fmt != config.adapter.name:
        raise InvalidStateError(
            f"the state holds {fmt} messages but the config uses {config.adapter.name}; "
            "use the adapter the conversation was started with",
            path="$.format",
        )


def prepare_message(raw: Any, config: PromptConfig, index: int) -> Message:
    """Copy ``raw`` once into plain JSON and validate it for the adapter."""
    adapter = config.adapter
    mapping = adapter.coerce_message(raw)
    try:
        message: Message = copy_json(mapping)
    except JSONPathError as exc:
        role = mapping.get("role")
        raise InvalidMessageError(
            str(exc), index=index, path=exc.path, role=role if isinstance(role, str) else None
        ) from exc
    adapter.validate_message(message, index=index)
    return message


def validate_append(
    state: State,
    raw: Any,
    config: PromptConfig,
    index: int,
    pending: tuple[str, ...] | None = None,
    empty: bool | None = None,
) -> Ready:
    """Phase one of an append: everything that can fail, nothing that changes."""
    message = prepare_message(raw, config, index)
    adapter = config.adapter
    if empty is None:
        empty = not state["committed"] and not state["recent"]
    if empty:
        adapter.check_first(message, index=index)
    before = tuple(state["pending"]) if pending is None else pending
    after = advance(before, message, adapter, index)
    return Ready(message, adapter.count_tokens(message), after)


def _commit(work: State, messages: list[Message], counts: list[int], chain: bool) -> None:
    """Append to committed history; ``chain=False`` leaves the hash for the caller."""
    if chain:
        h = work["history_hash"]
        for m in messages:
            h = chain_hash(h, m)
        work["history_hash"] = h
    work["committed"].extend(messages)
    work["committed_counts"].extend(counts)
    work["committed_tokens"] += sum(counts)


def extend_hash(state: State, count: int) -> None:
    """Fold the last ``count`` committed messages into ``history_hash`` (in place)."""
    h = state["history_hash"]
    committed = state["committed"]
    for m in committed[len(committed) - count :]:
        h = chain_hash(h, m)
    state["history_hash"] = h


def will_run_user_code(work: State, ready: Ready, config: PromptConfig) -> bool:
    """Whether applying ``ready`` may call a hook or compact (so must not be in place)."""
    mode = config.transition_mode
    commits = mode == "none" or (
        mode == "agent_cycle"
        and config.adapter.is_final_answer(ready.message)
        and not ready.pending
    )
    if commits and config.transition_hook is not None:
        return True
    if config.max_tokens is None or not (work["committed_tokens"] or commits):
        return False
    total = work["committed_tokens"] + work["recent_tokens"] + ready.tokens
    return total > config.max_tokens


def apply_append(
    work: State,
    ready: Ready,
    config: PromptConfig,
    events: list[CompactionEvent],
    *,
    chain: bool = True,
) -> None:
    """Phase two of an append, on a state the caller may change.

    ``chain=False`` (the manager's fast path, where no compaction can run)
    leaves newly committed messages out of ``history_hash``; the caller
    folds them in with ``extend_hash`` before anyone reads the state.
    """
    work["format"] = config.adapter.name
    work["pending"] = list(ready.pending)
    if config.transition_mode == "none":
        messages, counts = [ready.message], [ready.tokens]
        if config.transition_hook is not None:
            messages, counts = _run_transition_hook(messages, counts, config, work)
        _commit(work, messages, counts, chain)
    else:
        work["recent"].append(ready.message)
        work["recent_counts"].append(ready.tokens)
        work["recent_tokens"] += ready.tokens
        if (
            config.transition_mode == "agent_cycle"
            and not ready.pending
            and config.adapter.is_final_answer(ready.message)
        ):
            _transition_into(work, config, chain=chain)
    _maybe_compact(work, config, events)


# ----------------------------------------------------------------- transitions


def _run_transition_hook(
    messages: list[Message], counts: list[int], config: PromptConfig, work: State
) -> tuple[list[Message], list[int]]:
    adapter = config.adapter
    hook = config.transition_hook
    assert hook is not None
    try:
        out = hook(copy_json(messages))
    except Exception as exc:
        raise HookError(
            f"raised {type(exc).__name__}: {exc}; the state is unchanged", hook="transition_hook"
        ) from exc
    fresh, fresh_counts = validate_messages(
        out, adapter, "transition_hook", counts_of=(messages, counts)
    )

    def ids(msgs: list[Message]) -> list[tuple[str, ...]]:
        return [
            x for m in msgs for x in (adapter.tool_call_ids(m), adapter.tool_result_ids(m)) if x
        ]

    if ids(fresh) != ids(messages):
        raise HookError(
            "added, dropped or reordered tool calls or tool results; a transition "
            "hook may rewrite content but must keep every tool call and result",
            hook="transition_hook",
        )
    if fresh and not work["committed"]:
        try:
            adapter.check_first(fresh[0], index=0)
        except InvalidMessageError as exc:
            raise HookError(str(exc), hook="transition_hook") from exc
    return fresh, fresh_counts


def _transition_into(work: State, config: PromptConfig, *, chain: bool = True) -> None:
    if not work["recent"]:
        return
    if work["pending"]:
        raise PendingToolCallError(
            "cannot move the turn into history while a tool call awaits its result; "
            "append the tool results first",
            pending=work["pending"],
        )
    messages, counts = work["recent"], work["recent_counts"]
    if config.transition_hook is not None:
        messages, counts = _run_transition_hook(messages, counts, config, work)
    _commit(work, list(messages), list(counts), chain)
    work["recent"], work["recent_counts"], work["recent_tokens"] = [], [], 0


# ------------------------------------------------------------------ compaction


def _maybe_compact(work: State, config: PromptConfig, events: list[CompactionEvent]) -> None:
    # The budget covers history as sent: committed plus the turn in progress,
    # so a long agent loop sheds the previous task instead of dragging it along.
    total = work["committed_tokens"] + work["recent_tokens"]
    if config.max_tokens is not None and work["committed_tokens"] and total > config.max_tokens:
        event = _compact_into(work, config)
        if event is not None:
            events.append(event)


def _rehash(messages: Iterable[Message]) -> str:
    h = EMPTY_HASH
    for m in messages:
        h = chain_hash(h, m)
    return h


def _compact_into(work: State, config: PromptConfig) -> CompactionEvent | None:
    assert config.max_tokens is not None and config.compaction_target is not None
    before = work["committed_tokens"]
    target = config.compaction_target
    committed, counts = work["committed"], work["committed_counts"]
    recent = work["recent"]
    # What history may keep next to the turn in progress; the turn stays whole,
    # so all older rounds may go when it opens with a user turn of its own.
    room = max(target - work["recent_tokens"], 0)
    keep_last = not (recent and config.adapter.is_user_turn(recent[0]))
    if config.compaction_hook is None:
        cut = cut_index(committed, counts, room, config.adapter, keep_last=keep_last)
        if cut == 0:
            return None
        removed: tuple[Message, ...] = tuple(committed[:cut])
        added: tuple[Message, ...] = ()
        new, new_counts = committed[cut:], counts[cut:]
        strategy = "truncate_oldest"
    else:
        in_history = tuple(work["pending"]) if not work["recent"] else ()
        result = run_hook(
            config.compaction_hook,
            committed,
            counts,
            target=room,
            budget=max(config.max_tokens - work["recent_tokens"], room),
            pending=in_history,
            adapter=config.adapter,
        )
        new, new_counts = result.messages, result.counts
        removed, added, strategy = result.removed, result.added, "compaction_hook"
    _replace_history(work, new, new_counts, config)
    return CompactionEvent(
        removed=removed,
        added=added,
        tokens_before=before,
        tokens_after=work["committed_tokens"],
        target_tokens=target,
        strategy=strategy,
    )


def _replace_history(
    work: State, new: list[Message], counts: list[int], config: PromptConfig
) -> None:
    work["committed"], work["committed_counts"] = list(new), list(counts)
    work["committed_tokens"] = sum(counts)
    work["history_hash"] = _rehash(new)
    work["compactions"] += 1
    if work["context"] is not None:
        # The context is re-sent on the next change only; if compaction took
        # the last copy out of the conversation, forget it so it is re-sent.
        ctx = config.adapter.context_message(work["context"])
        if ctx not in work["committed"] and ctx not in work["recent"]:
            work["context"] = None


def _deliver(events: list[CompactionEvent], config: PromptConfig, sink: EventSink | None) -> None:
    target = sink if sink is not None else config.on_compaction
    if target is None:
        return
    for event in events:
        try:
            target(event)
        except Exception as exc:
            raise HookError(
                f"raised {type(exc).__name__}: {exc}; the state is unchanged "
                "(the compaction was not applied)",
                hook="on_compaction",
            ) from exc


# ------------------------------------------------------------------ public API


def append_message(
    state: State, message: Any, config: PromptConfig, *, on_compaction: EventSink | None = None
) -> State:
    """Append one message; return the new state.

    Depending on ``config.transition_mode`` the message goes to committed
    history at once (``"none"``) or to the recent turn, and an assistant
    message that calls no tool ends an ``"agent_cycle"``. History over
    ``max_tokens`` is compacted afterwards.

    Args:
        state: the current state (not modified).
        message: a message in the adapter's wire format.
        config: the conversation's config.
        on_compaction: receives compaction events instead of
            ``config.on_compaction`` for this call.

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
    return append_messages(state, [message], config, on_compaction=on_compaction)


def append_messages(
    state: State,
    messages: Iterable[Any],
    config: PromptConfig,
    *,
    on_compaction: EventSink | None = None,
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
    check_format(state, config)
    if isinstance(messages, (dict, str, bytes)):
        raise TypeError(
            "append_messages() takes an iterable of messages; use "
            "append_message() for a single message"
        )
    work = copy_state(state)
    events: list[CompactionEvent] = []
    for i, raw in enumerate(messages):
        apply_append(work, validate_append(work, raw, config, i), config, events)
    _deliver(events, config, on_compaction)
    return work


def transition(
    state: State, config: PromptConfig, *, on_compaction: EventSink | None = None
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
    check_format(state, config)
    work = copy_state(state)
    events: list[CompactionEvent] = []
    _transition_into(work, config)
    _maybe_compact(work, config, events)
    _deliver(events, config, on_compaction)
    return work


def compact_with_event(state: State, config: PromptConfig) -> tuple[State, CompactionEvent | None]:
    """Compact committed history to ``config.compaction_target`` now.

    Returns the new state and the event (``None`` when nothing could be
    removed). Does not call ``on_compaction``: the event is returned.

    Raises:
        InvalidConfigError: ``config.max_tokens`` is not set.
        HookError: the compaction hook failed; nothing applied.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(max_tokens=1000, compaction_target=10)
    >>> s = append_messages(new_state(), [{"role": "user", "content": "one " * 30},
    ...     {"role": "assistant", "content": "ok"}, {"role": "user", "content": "two"}], cfg)
    >>> s2, event = compact_with_event(s, cfg)
    >>> len(event.removed), s2["committed"][0]["content"]
    (2, 'two')
    """
    check_format(state, config)
    if config.max_tokens is None:
        raise InvalidConfigError(
            "compact() needs a budget; set max_tokens (and optionally compaction_target)",
            field="max_tokens",
        )
    work = copy_state(state)
    event = _compact_into(work, config)
    return work, event


def compact(state: State, config: PromptConfig, *, on_compaction: EventSink | None = None) -> State:
    """Compact committed history to the target now; deliver the event.

    See ``compact_with_event`` for the version that returns the event.

    >>> from stableprefix import PromptConfig, new_state
    >>> compact(new_state(), PromptConfig(max_tokens=100))["compactions"]
    0
    """
    work, event = compact_with_event(state, config)
    _deliver([event] if event else [], config, on_compaction)
    return work


def record_context(state: State, text: str | None, config: PromptConfig) -> State:
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
    check_format(state, config)
    ready = validate_context(state, text, config)
    if ready is None:
        return state
    work = copy_state(state)
    events: list[CompactionEvent] = []
    apply_context(work, ready, config, events)
    _deliver(events, config, None)
    return work


def effective_position(config: PromptConfig, text: str | None) -> str:
    """Where ``text`` goes this time: ``config.dynamic_position``, resolved for ``"auto"``.

    ``"auto"`` puts the context at the tail, except for an adapter whose
    engine caches the tokens it generates (a local engine), where a context
    of at most ``config.append_context_max_tokens`` tokens is kept in the
    turn. Measured: on hosted APIs a context kept in the turn is written once
    (1.25x on Anthropic) and re-read by every later request (0.1x each), which
    costs more than sending it uncached once at the tail; a local engine
    also reuses the reply it generated after an appended context.

    >>> from stableprefix import PromptConfig, TransformersAdapter
    >>> effective_position(PromptConfig(), "Now: 09:30")
    'tail'
    >>> from stableprefix.adapters._chat_ids import CharTokenizer
    >>> local = PromptConfig(adapter=TransformersAdapter(CharTokenizer()))
    >>> effective_position(local, "Now: 09:30"), effective_position(local, "passage " * 300)
    ('append', 'tail')
    """
    if config.dynamic_position != "auto":
        return config.dynamic_position
    adapter = config.adapter
    if adapter.caches_generated_tokens and (
        not text or adapter.count_text_tokens(text) <= config.append_context_max_tokens
    ):
        return "append"
    return "tail"


def validate_context(state: State, text: str | None, config: PromptConfig) -> Ready | None:
    """Phase one of ``record_context``; ``None`` when nothing is to be kept."""
    if text is not None and not isinstance(text, str):
        raise TypeError(f"the dynamic context must be a str or None, got {type(text).__name__}")
    if not text or text == state["context"] or effective_position(config, text) != "append":
        return None
    if state["pending"]:
        raise PendingToolCallError(
            "cannot add the dynamic context between a tool call and "
            "its result; append the tool results first",
            pending=state["pending"],
        )
    ready = validate_append(state, config.adapter.context_message(text), config, 0)
    return Ready(ready.message, ready.tokens, ready.pending, is_context=True, context=text)


def apply_context(
    work: State,
    ready: Ready,
    config: PromptConfig,
    events: list[CompactionEvent],
    *,
    chain: bool = True,
) -> None:
    """Phase two of ``record_context``."""
    apply_append(work, ready, config, events, chain=chain)
    work["context"] = ready.context


def _parts(
    state: State,
    config: PromptConfig,
    context: str | None,
    recent: list[Message] | None = None,
    position: str = "tail",
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
    )


def _request_parts(state: State, config: PromptConfig, dynamic: str | None) -> RequestParts:
    check_format(state, config)
    if dynamic is not None and not isinstance(dynamic, str):
        raise TypeError(
            f"dynamic_system_prompt must be a str or None, got {type(dynamic).__name__}"
        )
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
    return _parts(state, config, dynamic or None, position=position)


def build_request(
    state: State, config: PromptConfig, dynamic_system_prompt: str | None = None
) -> dict[str, Any]:
    """The keyword arguments for the provider SDK call.

    ``client.chat.completions.create(model=..., **request)`` for OpenAI,
    ``client.messages.create(model=..., max_tokens=..., **request)`` for
    Anthropic. The request shares message objects with the state: treat it
    as read-only. A context that ``"auto"`` would keep in the turn goes to
    the tail unless it was recorded; ``build_turn`` records and builds.

    Raises:
        PendingToolCallError: tool calls await results.
        ContextError: with ``"append"``, the context was not recorded first.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(static_system_prompt="Be brief.")
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> [m["role"] for m in build_request(s, cfg, "time: 10:00")["messages"]]
    ['system', 'user', 'system']
    """
    return config.adapter.render(_request_parts(state, config, dynamic_system_prompt))


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
    return config.adapter.render_messages(_request_parts(state, config, dynamic_system_prompt))


def build_turn(
    state: State, config: PromptConfig, dynamic_system_prompt: str | None = None
) -> tuple[State, dict[str, Any]]:
    """Record the dynamic context if needed, then build: ``(new_state, request)``.

    The one call a stateless handler needs for any ``dynamic_position``.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(dynamic_position="append")
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> s, req = build_turn(s, cfg, "time: 10:00")
    >>> req["messages"][-1]["content"], s["context"]
    ('time: 10:00', 'time: 10:00')
    """
    new = record_context(state, dynamic_system_prompt, config)
    return new, build_request(new, config, dynamic_system_prompt)


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
    check_format(state, config)
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("instruction must be a non-empty string")
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
    on_compaction: EventSink | None = None,
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
    check_format(state, config)
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
    removed, _ = diff_messages(committed[:cut], [])
    _replace_history(
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
    _deliver([event], config, on_compaction)
    return work


def prefix_fingerprint(state: State, config: PromptConfig) -> str:
    """A hash of the cacheable prefix: tools, static prompt, committed history.

    It changes exactly when the cacheable prefix changes (a compaction, other
    tools or prompt), and grows by chaining when history is appended.

    >>> from stableprefix import PromptConfig, new_state
    >>> cfg = PromptConfig(static_system_prompt="x")
    >>> prefix_fingerprint(new_state(), cfg) == prefix_fingerprint(new_state(), cfg)
    True
    """
    check_format(state, config)
    return sha256_hex(config.prefix_hash + state["history_hash"])
