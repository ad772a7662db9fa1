"""Ordering rules of a conversation: tool calls and their results, rounds.

Approach: the only ordering state a conversation needs is the tuple of tool
call ids still awaiting results. ``advance`` moves it over one message and
refuses a message that would give the provider an orphaned result or a call
left unanswered; every path that adds messages (append, transition hooks,
compaction hooks, summaries) goes through it, so no path can separate a tool
call from its result. A *round* is a user turn and everything that answers
it; consecutive user messages (a context note, a summary) belong to one
round, the way providers merge consecutive user turns.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._adapter import Message, ProviderAdapter
from ._errors import InvalidMessageError, PendingToolCallError

__all__ = ["advance", "check_sequence", "round_starts"]


def advance(
    pending: tuple[str, ...], message: Message, adapter: ProviderAdapter, index: int
) -> tuple[str, ...]:
    """The pending tool call ids after ``message``; raise if it may not come now.

    >>> from stableprefix import OpenAIAdapter
    >>> a = OpenAIAdapter()
    >>> call = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
    ...         "function": {"name": "f", "arguments": "{}"}}]}
    >>> advance((), call, a, 0)
    ('c1',)
    >>> advance(("c1",), {"role": "tool", "tool_call_id": "c1", "content": "ok"}, a, 1)
    ()
    """
    results = adapter.tool_result_ids(message)
    calls = adapter.tool_call_ids(message)
    if not (pending or results or calls):
        return pending  # the usual plain message: nothing to match
    role = adapter.role_of(message)
    if len(calls) > 1 and len(set(calls)) != len(calls):
        twice = next(c for i, c in enumerate(calls) if c in calls[:i])
        raise InvalidMessageError(
            f"tool call id {twice!r} is used twice in one message (for calls without an "
            "id, the adapter derives one); give every call its own id",
            index=index,
            role=role,
        )
    if pending:
        if not results and calls and adapter.calls_span_messages:
            # One model turn's parallel calls arrive as consecutive items.
            reused = [c for c in calls if c in pending]
            if reused:
                raise InvalidMessageError(
                    f"tool call id {reused[0]!r} is already awaiting a result",
                    index=index,
                    role=role,
                )
            return pending + calls
        if not results:
            raise PendingToolCallError(
                f"message {index} (role {role!r}) cannot come yet: append the tool results "
                "for the previous assistant message first",
                pending=pending,
            )
        _check_results(pending, results, adapter, index, role)
        pending = tuple(p for p in pending if p not in results)
    elif results:
        raise InvalidMessageError(
            f"answers tool call {results[0]!r}, but no tool call is awaiting a result; "
            "append the assistant message that made the call first",
            index=index,
            role=role,
        )
    return calls if calls else pending


def _check_results(
    pending: tuple[str, ...],
    results: tuple[str, ...],
    adapter: ProviderAdapter,
    index: int,
    role: str,
) -> None:
    seen: set[str] = set()
    for rid in results:
        if rid not in pending:
            raise InvalidMessageError(
                f"answers tool call {rid!r}, which is not awaiting a result "
                f"(awaiting: {', '.join(pending)})",
                index=index,
                role=role,
            )
        if rid in seen:
            raise InvalidMessageError(f"answers tool call {rid!r} twice", index=index, role=role)
        seen.add(rid)
    if adapter.results_all_at_once and len(seen) != len(pending):
        missing = ", ".join(p for p in pending if p not in seen)
        raise InvalidMessageError(
            f"must answer every tool call of the previous assistant message in one message; "
            f"missing results for {missing}",
            index=index,
            role=role,
        )


def check_sequence(
    messages: Sequence[Message],
    adapter: ProviderAdapter,
    *,
    pending: tuple[str, ...] = (),
    first: bool = True,
) -> tuple[str, ...]:
    """Validate the ordering of ``messages``; return the pending ids after them.

    ``first`` says that ``messages[0]`` opens the conversation (so it must be
    a role the provider accepts first).
    """
    for i, message in enumerate(messages):
        if first and i == 0:
            adapter.check_first(message, index=i)
        pending = advance(pending, message, adapter, i)
    return pending


def round_starts(messages: Sequence[Message], adapter: ProviderAdapter) -> list[int]:
    """Indices where a round begins (always including 0 for a non-empty list).

    >>> from stableprefix import OpenAIAdapter
    >>> msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
    ...         {"role": "user", "content": "c"}, {"role": "user", "content": "d"}]
    >>> round_starts(msgs, OpenAIAdapter())
    [0, 2]
    """
    starts: list[int] = []
    previous_user = False
    for i, message in enumerate(messages):
        user_turn = adapter.is_user_turn(message)
        if i == 0 or (user_turn and not previous_user):
            starts.append(i)
        previous_user = adapter.role_of(message) == "user"
    return starts
