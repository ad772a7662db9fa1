"""The two phases behind every change: validate, then apply.

Approach: *validate* looks at a state and a new message without touching
anything and returns a ``Ready`` record (the message copied once, its token
count, the tool calls pending after it). *Apply* performs the change on a
state the caller may change: appending to lists cannot fail, and the steps
that run user code (transition and compaction hooks, event delivery) run on
a working copy in the functional API, so an error leaves the caller's state
as it was. ``functional`` builds its public operations from these pieces;
``PromptManager`` uses them directly to apply in place when no user code can
run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._adapter import Message, ProviderAdapter
from ._compaction import CompactionEvent, cut_index, run_hook, validate_messages
from ._config import PromptConfig
from ._errors import (
    HookError,
    InvalidMessageError,
    PendingToolCallError,
    StablePrefixError,
)
from ._events import Event
from ._json import EMPTY_HASH, JSONPathError, chain_hash, check_text, copy_json
from ._sequence import advance, check_sequence
from ._state import State

EventSink = Callable[[Event], object]


@dataclass(frozen=True, slots=True)
class Ready:
    """A validated message, ready to be applied."""

    message: Message
    tokens: int
    pending: tuple[str, ...]
    context: str | None = None


# ----------------------------------------------------------------- validation


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
    return Ready(message, count_message(adapter, message), after)


def count_message(adapter: ProviderAdapter, message: Message) -> int:
    """``adapter.count_tokens(message)``, refusing what a broken token counter returns."""
    try:
        n = adapter.count_tokens(message)
    except StablePrefixError:
        raise
    except Exception as exc:
        raise HookError(
            f"raised {type(exc).__name__}: {exc}; nothing was applied", hook="token_counter"
        ) from exc
    if type(n) is not int or n < 0:
        raise HookError(
            f"returned {n!r} for a message; a token count must be a whole number >= 0",
            hook="token_counter",
        )
    return n


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
    if config.history_max_tokens is None or not (work["committed_tokens"] or commits):
        return False
    total = work["committed_tokens"] + work["recent_tokens"] + ready.tokens
    return total > config.history_max_tokens


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
    before = tuple(work["pending"])
    work["pending"] = list(ready.pending)
    mode = config.transition_mode
    if mode == "none" and not work["recent"]:
        messages, counts = [ready.message], [ready.tokens]
        if config.transition_hook is not None:
            messages, counts = _run_transition_hook(messages, counts, config, work, before)
        _commit(work, messages, counts, chain)
    else:
        # With "none" and a turn still in progress (the mode was changed
        # mid-turn), the message joins the turn and the whole turn moves as
        # soon as no call awaits a result: history never overtakes the turn.
        work["recent"].append(ready.message)
        work["recent_counts"].append(ready.tokens)
        work["recent_tokens"] += ready.tokens
        if not ready.pending and (
            mode == "none"
            or (mode == "agent_cycle" and config.adapter.is_final_answer(ready.message))
        ):
            transition_into(work, config, chain=chain)
    maybe_compact(work, config, events)


# ----------------------------------------------------------------- transitions


def _run_transition_hook(
    messages: list[Message],
    counts: list[int],
    config: PromptConfig,
    work: State,
    start: tuple[str, ...] = (),
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
    try:
        check_sequence(fresh, adapter, pending=start, first=False)
    except StablePrefixError as exc:
        raise HookError(
            f"separated a tool call from its results ({exc}); keep every tool call "
            "directly followed by its results",
            hook="transition_hook",
        ) from exc
    if fresh and not work["committed"]:
        try:
            adapter.check_first(fresh[0], index=0)
        except InvalidMessageError as exc:
            raise HookError(str(exc), hook="transition_hook") from exc
    return fresh, fresh_counts


def _answered_earlier(messages: list[Message], adapter: ProviderAdapter) -> tuple[str, ...]:
    """Ids of calls made before ``messages`` that ``messages`` answer (in order)."""
    called: set[str] = set()
    out: list[str] = []
    for m in messages:
        called.update(adapter.tool_call_ids(m))
        out.extend(r for r in adapter.tool_result_ids(m) if r not in called and r not in out)
    return tuple(out)


def transition_into(work: State, config: PromptConfig, *, chain: bool = True) -> None:
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
        start = _answered_earlier(messages, config.adapter)
        messages, counts = _run_transition_hook(messages, counts, config, work, start)
    _commit(work, list(messages), list(counts), chain)
    work["recent"], work["recent_counts"], work["recent_tokens"] = [], [], 0


# ------------------------------------------------------------------ compaction


def maybe_compact(work: State, config: PromptConfig, events: list[CompactionEvent]) -> None:
    # The budget covers history as sent: committed plus the turn in progress,
    # so a long agent loop sheds the previous task instead of dragging it along.
    total = work["committed_tokens"] + work["recent_tokens"]
    budget = config.history_max_tokens
    if budget is not None and work["committed_tokens"] and total > budget:
        event = compact_into(work, config)
        if event is not None:
            events.append(event)


def rehash(messages: Iterable[Message]) -> str:
    h = EMPTY_HASH
    for m in messages:
        h = chain_hash(h, m)
    return h


def compact_into(work: State, config: PromptConfig) -> CompactionEvent | None:
    assert config.history_max_tokens is not None and config.compaction_target is not None
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
            budget=max(config.history_max_tokens - work["recent_tokens"], room),
            pending=in_history,
            adapter=config.adapter,
        )
        new, new_counts = result.messages, result.counts
        removed, added, strategy = result.removed, result.added, "compaction_hook"
    replace_history(work, new, new_counts, config)
    return CompactionEvent(
        removed=removed,
        added=added,
        tokens_before=before,
        tokens_after=work["committed_tokens"],
        target_tokens=target,
        strategy=strategy,
    )


def replace_history(
    work: State, new: list[Message], counts: list[int], config: PromptConfig
) -> None:
    work["committed"], work["committed_counts"] = list(new), list(counts)
    work["committed_tokens"] = sum(counts)
    work["history_hash"] = rehash(new)
    work["compactions"] += 1
    if work["context"] is not None:
        # The context is re-sent on the next change only; if compaction took
        # the last copy out of the conversation, forget it so it is re-sent.
        ctx = config.adapter.context_message(work["context"])
        if ctx not in work["committed"] and ctx not in work["recent"]:
            work["context"] = None


def deliver(
    events: Sequence[Event],
    config: PromptConfig,
    sink: EventSink | None,
    state: State | None = None,
) -> None:
    """Hand ``events`` to ``sink`` (or ``config.on_event``) after their change is applied.

    Every event is delivered even when the sink raises for one of them (the
    change they describe stands); then ``HookError`` reports the first
    failure and carries the new state in ``state``.
    """
    target = sink if sink is not None else config.on_event
    if target is None or not events:
        return
    failure: Exception | None = None
    for event in events:
        try:
            target(event)
        except Exception as exc:
            failure = failure or exc
    if failure is not None:
        raise HookError(
            f"raised {type(failure).__name__}: {failure}; the change the event reports was "
            "applied all the same and every event was delivered (the new state is on this "
            "error's .state; a PromptManager already holds it)",
            hook="on_event",
            state=state,
        ) from failure


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
    check_text(text, "dynamic_system_prompt")
    if not text or text == state["context"] or effective_position(config, text) != "append":
        return None
    if state["pending"]:
        raise PendingToolCallError(
            "cannot add the dynamic context between a tool call and "
            "its result; append the tool results first",
            pending=state["pending"],
        )
    ready = validate_append(state, config.adapter.context_message(text), config, 0)
    return Ready(ready.message, ready.tokens, ready.pending, context=text)


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
