"""Warm-up requests: write the shared prefix once before a fan-out.

Approach: an agent that sends N sub-requests in parallel over the same
tools, static prompt and committed history pays for that prefix N times
when the cache is cold, because a provider makes a new entry readable only
once the response of the request that wrote it begins (Anthropic documents
it; OpenAI and Gemini cache only what a finished prefill stored). Sending
one small request first, and the N only when its response has begun, turns
N writes into one write and N reads.

The warm-up is the request the library would build with nothing in
progress: tools, static system prompt and committed history, marked as
usual, followed by a one-line instruction so that it is a valid request.
The instruction is never marked, so only the shared prefix is written; on
OpenAI models with breakpoints the request asks for explicit mode, so the
service does not write the instruction either. Send it with the smallest
output limit (``max_tokens=1``) and wait for the first byte of its response.
"""

from __future__ import annotations

from typing import Any

from ._adapter import RequestParts
from ._config import PromptConfig
from ._errors import PendingToolCallError
from ._state import State

__all__ = ["WARMUP_INSTRUCTION", "warmup_request"]

#: The one user line that makes the warm-up a valid request.
WARMUP_INSTRUCTION = "Reply with OK."


def warmup_request(state: State, config: PromptConfig) -> dict[str, Any]:
    """The smallest request that writes the conversation's shared prefix.

    Args:
        state: the conversation whose committed history the fan-out shares.
        config: its configuration.

    Returns:
        SDK keyword arguments, like ``build_request``'s.

    Raises:
        PendingToolCallError: tool calls await results (the history is not
            a valid prefix yet).

    >>> from stableprefix import PromptConfig, new_state
    >>> warmup_request(new_state(), PromptConfig(static_system_prompt="Be brief."))["messages"]
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Reply with OK.'}]
    """
    if state["pending"]:
        raise PendingToolCallError(
            "cannot warm the prefix while tool calls await results; append the results first",
            pending=state["pending"],
        )
    adapter = config.adapter
    for_warmup = getattr(adapter, "for_warmup", None)
    if callable(for_warmup):
        adapter = for_warmup()
    parts = RequestParts(
        tools=tuple(config.tools),
        static_system=config.static_system_prompt,
        history=state["committed"],
        recent=[adapter.instruction_message(WARMUP_INSTRUCTION)],
        conversation_key=state["key"],
        static_tokens=config.static_tokens,
        history_tokens=state["committed_tokens"],
        mark_recent=False,
    )
    return adapter.render(parts)
