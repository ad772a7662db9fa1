"""Compaction: shrinking committed history without losing or orphaning anything.

Approach: compaction is rare by design (it costs one cache rewrite), so the
budget check is O(1) against a running total and the work itself is a
single O(n) pass. The default drops the oldest whole rounds, found from the
stored per-message counts by walking round boundaries from the newest end,
and always keeps the newest round. A user hook may summarise instead; its
output is copied, validated like appended messages (roles, tool pairs,
first message, budget) and recounted before anything is swapped in. What
left the history is reported in a ``CompactionEvent``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._adapter import Message, ProviderAdapter
from ._errors import HookError, StablePrefixError
from ._events import Event
from ._json import JSONPathError, canonical, copy_json
from ._sequence import check_sequence, round_starts

__all__ = ["CompactionEvent", "cut_index", "run_hook", "truncate_oldest"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactionEvent(Event):
    """What one compaction did to committed history (an ``Event``).

    Attributes:
        removed: the messages that left history, oldest first.
        added: messages the compaction put in (a summary), if any.
        tokens_before: committed tokens before.
        tokens_after: committed tokens after.
        target_tokens: the target it aimed for.
        strategy: ``"truncate_oldest"``, ``"compaction_hook"`` or ``"summary"``.

    >>> e = CompactionEvent(removed=({"role": "user", "content": "hi"},), added=(),
    ...     tokens_before=100, tokens_after=40, target_tokens=50,
    ...     strategy="truncate_oldest")
    >>> e.tokens_saved
    60
    """

    removed: tuple[Message, ...]
    added: tuple[Message, ...]
    tokens_before: int
    tokens_after: int
    target_tokens: int
    strategy: str

    @property
    def tokens_saved(self) -> int:
        """How many committed tokens the compaction freed."""
        return self.tokens_before - self.tokens_after


def cut_index(
    messages: Sequence[Message],
    counts: Sequence[int],
    target: int,
    adapter: ProviderAdapter,
    *,
    keep_last: bool = True,
) -> int:
    """First index to keep so that the kept rounds fit ``target`` tokens.

    With ``keep_last`` the newest round is always kept; without it every
    round may go (``len(messages)``). Returns 0 when nothing can be dropped.

    >>> from stableprefix import OpenAIAdapter
    >>> msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}] * 3
    >>> cut_index(msgs, [10] * 6, 25, OpenAIAdapter())
    4
    """
    starts = round_starts(messages, adapter)
    if not starts or (keep_last and len(starts) < 2):
        return 0
    kept = 0
    end = len(messages)
    best = starts[-1] if keep_last else end
    for start in reversed(starts):
        kept += sum(counts[start:end])
        end = start
        if kept > target:
            break
        best = start
    return best


def truncate_oldest(
    messages: list[Message], target_tokens: int, adapter: ProviderAdapter
) -> list[Message]:
    """The default compaction hook: drop the oldest whole rounds.

    A round is a user turn and every message answering it, so a tool call
    never loses its result and the kept history starts with a user message.
    The newest round is always kept, even when it alone exceeds the target.

    Args:
        messages: committed history, oldest first.
        target_tokens: the size to get down to.
        adapter: counts tokens and knows the message format.

    Returns:
        The newest rounds that fit ``target_tokens``.

    >>> from stableprefix import OpenAIAdapter
    >>> msgs = [{"role": "user", "content": "question " * 50},
    ...         {"role": "assistant", "content": "answer " * 50},
    ...         {"role": "user", "content": "short?"},
    ...         {"role": "assistant", "content": "yes"}]
    >>> [m["content"] for m in truncate_oldest(msgs, 40, OpenAIAdapter())]
    ['short?', 'yes']
    """
    counts = [adapter.count_tokens(m) for m in messages]
    return messages[cut_index(messages, counts, target_tokens, adapter) :]


@dataclass(frozen=True, slots=True)
class HookResult:
    """Validated output of a compaction hook."""

    messages: list[Message]
    counts: list[int]
    removed: tuple[Message, ...]
    added: tuple[Message, ...]


def run_hook(
    hook: Any,
    messages: list[Message],
    counts: list[int],
    *,
    target: int,
    budget: int,
    pending: tuple[str, ...],
    adapter: ProviderAdapter,
) -> HookResult:
    """Call a compaction hook on a copy of history and validate what it returns.

    Raises:
        HookError: the hook raised, or its output is not a valid history
            within ``budget`` that keeps the awaited tool calls.
    """
    name = "compaction_hook"
    try:
        out = hook(copy_json(messages), target, adapter)
    except Exception as exc:
        raise HookError(
            f"raised {type(exc).__name__}: {exc}; the state is unchanged", hook=name
        ) from exc
    fresh, fresh_counts = validate_messages(out, adapter, name, counts_of=(messages, counts))
    after = _check_pairs(fresh, adapter, name, pending)
    if set(pending) - set(after):
        raise HookError("dropped a tool call that is still awaiting its result", hook=name)
    total = sum(fresh_counts)
    if total > budget:
        raise HookError(
            f"returned {total} tokens, more than the budget left next to the turn in "
            f"progress ({budget}); return fewer or shorter messages",
            hook=name,
        )
    removed, added = diff_messages(messages, fresh)
    return HookResult(fresh, fresh_counts, removed, added)


def validate_messages(
    out: Any,
    adapter: ProviderAdapter,
    hook: str,
    *,
    counts_of: tuple[Sequence[Message], Sequence[int]] | None = None,
) -> tuple[list[Message], list[int]]:
    """Copy and validate a hook's list of messages; return them with counts.

    Messages equal to one the hook was given reuse its stored count.
    """
    if not isinstance(out, list):
        raise HookError(f"must return a list of messages, got {type(out).__name__}", hook=hook)
    known: dict[str, int] = {}
    if counts_of is not None:
        known = {canonical(m): c for m, c in zip(*counts_of, strict=True)}
    fresh: list[Message] = []
    counts: list[int] = []
    for i, raw in enumerate(out):
        try:
            if not isinstance(raw, dict):
                raise TypeError(f"item {i} is a {type(raw).__name__}, not a message dict")
            message = copy_json(raw, f"$[{i}]")
            adapter.validate_message(message, index=i)
        except (JSONPathError, TypeError, StablePrefixError) as exc:
            raise HookError(f"returned an invalid message: {exc}", hook=hook) from exc
        fresh.append(message)
        cached = known.get(canonical(message)) if known else None
        counts.append(cached if cached is not None else adapter.count_tokens(message))
    return fresh, counts


def _check_pairs(
    messages: list[Message], adapter: ProviderAdapter, hook: str, pending: tuple[str, ...]
) -> tuple[str, ...]:
    if messages and not adapter.is_user_turn(messages[0]):
        raise HookError("returned a history that does not start with a user message", hook=hook)
    try:
        after = check_sequence(messages, adapter)
    except StablePrefixError as exc:
        raise HookError(f"separated a tool call from its result: {exc}", hook=hook) from exc
    if after and tuple(after) != tuple(pending):
        raise HookError(f"left tool calls {', '.join(after)} without results", hook=hook)
    return after


def diff_messages(
    before: Sequence[Message], after: Sequence[Message]
) -> tuple[tuple[Message, ...], tuple[Message, ...]]:
    """Messages only in ``before`` (removed) and only in ``after`` (added), as multisets."""
    kept = Counter(canonical(m) for m in after)
    removed: list[Message] = []
    for m in before:
        key = canonical(m)
        if kept[key]:
            kept[key] -= 1
        else:
            removed.append(m)
    existing = Counter(canonical(m) for m in before)
    added: list[Message] = []
    for m in after:
        key = canonical(m)
        if existing[key]:
            existing[key] -= 1
        else:
            added.append(m)
    return tuple(removed), tuple(added)
