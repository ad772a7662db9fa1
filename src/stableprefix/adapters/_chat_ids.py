"""Rendering OpenAI-style messages to token ids with a model's chat template.

Approach: everything here is a pure function of a tokenizer (anything with
``encode`` and ``apply_chat_template``, see ``ChatTokenizer``) and plain
data. ``message_cuts`` finds where each message's ids start in a rendered
prompt: it renders the text of each prefix of the conversation (cheap: no
tokenizing), takes how far each agrees with the full text, encodes the
pieces between those points and checks that they join up to the prompt's
ids. When they do not (a BPE merge across a message boundary), it renders
each prefix to ids instead, which is exact but costs a tokenization per
message. A prefix the template refuses to render (some templates reject a
conversation that ends on an assistant message) gets no cut of its own: that
message's ids go with the next message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .._blocks import CacheBlock
from .._json import sha256_hex
from ._base import Message

__all__ = [
    "ANCHORS",
    "CharTokenizer",
    "ChatTokenizer",
    "anchors_for",
    "block_kind",
    "common_prefix",
    "id_block",
    "message_cuts",
    "render_ids",
    "render_text",
    "request_parts",
]

# The conversations a message is measured after. Templates differ in what
# they accept first (a system message, a user message, strict alternation),
# so the first one that renders wins.
ANCHORS: tuple[tuple[Message, ...], ...] = (
    ({"role": "system", "content": "."},),
    ({"role": "user", "content": "."},),
    ({"role": "user", "content": "."}, {"role": "assistant", "content": "."}),
)


class ChatTokenizer(Protocol):
    """What the adapter needs from a tokenizer (a Hugging Face tokenizer has it).

    ``apply_chat_template`` renders OpenAI-style messages with the model's
    chat template and returns the text (``tokenize=False``) or the token ids
    (``tokenize=True``; a mapping with ``"input_ids"`` is accepted too).
    ``encode`` turns plain text into ids.

    >>> CharTokenizer().apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    '<user>Hi\\n'
    """

    def encode(self, text: str, *, add_special_tokens: bool = ...) -> list[int]: ...

    def apply_chat_template(
        self,
        conversation: Any,
        *,
        tools: Any = ...,
        add_generation_prompt: bool = ...,
        tokenize: bool = ...,
        return_dict: bool = ...,
    ) -> Any: ...


class CharTokenizer:
    """A stand-in tokenizer for examples: one token per character.

    Its template writes each message as ``<role>content`` and a newline and
    ends with ``<assistant>`` when asked for a generation prompt; it ignores
    tools.

    >>> CharTokenizer().encode("Hi")
    [72, 105]
    """

    chat_template = "<role>content\\n"

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """One id per character: its code point."""
        return [ord(c) for c in text]

    def apply_chat_template(
        self,
        conversation: Any,
        *,
        tools: Any = None,
        add_generation_prompt: bool = False,
        tokenize: bool = True,
        return_dict: bool = False,
    ) -> Any:
        """The conversation as text, or as the ids of that text."""
        text = "".join(f"<{m['role']}>{m.get('content') or ''}\n" for m in conversation)
        if add_generation_prompt:
            text += "<assistant>"
        return self.encode(text) if tokenize else text


# ------------------------------------------------------------------ rendering


def render_ids(
    tokenizer: ChatTokenizer,
    messages: Sequence[Message],
    tools: Sequence[Message] | None = None,
    *,
    generation: bool = False,
) -> list[int]:
    """The template's token ids for ``messages`` (and ``tools``).

    Raises:
        TypeError: the tokenizer returned something other than ids.
        Exception: whatever the template raises for input it rejects.

    >>> render_ids(CharTokenizer(), [{"role": "user", "content": "Hi"}])
    [60, 117, 115, 101, 114, 62, 72, 105, 10]
    """
    result = tokenizer.apply_chat_template(
        list(messages),
        tools=list(tools) if tools else None,
        add_generation_prompt=generation,
        tokenize=True,
        return_dict=False,
    )
    if isinstance(result, Mapping):
        result = result.get("input_ids")
    if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
        raise TypeError(
            f"apply_chat_template(tokenize=True) must return token ids, got {type(result).__name__}"
        )
    return [int(i) for i in result]


def render_text(
    tokenizer: ChatTokenizer,
    messages: Sequence[Message],
    tools: Sequence[Message] | None = None,
    *,
    generation: bool = False,
) -> str:
    """The template's text for ``messages`` (and ``tools``).

    Raises:
        TypeError: the tokenizer returned something other than a string.
        Exception: whatever the template raises for input it rejects.

    >>> render_text(CharTokenizer(), [{"role": "user", "content": "Hi"}], generation=True)
    '<user>Hi\\n<assistant>'
    """
    text = tokenizer.apply_chat_template(
        list(messages),
        tools=list(tools) if tools else None,
        add_generation_prompt=generation,
        tokenize=False,
        return_dict=False,
    )
    if not isinstance(text, str):
        raise TypeError(f"apply_chat_template(tokenize=False) returned {type(text).__name__}")
    return text


def message_cuts(
    tokenizer: ChatTokenizer,
    messages: Sequence[Message],
    tools: Sequence[Message] | None,
    ids: list[int],
) -> list[int]:
    """Offsets in ``ids`` where each message starts, then where the last one ends.

    ``ids`` are the ids of the whole request (generation prompt included);
    what follows the last offset is the generation prompt.

    >>> messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    >>> ids = render_ids(CharTokenizer(), messages, generation=True)
    >>> message_cuts(CharTokenizer(), messages, None, ids), len(ids)
    ([0, 10, 19], 30)
    """
    try:
        full = render_text(tokenizer, messages, tools, generation=True)
    except Exception:
        return _cuts_by_ids(tokenizer, messages, tools, ids)
    ends = [
        common_prefix(_prefix_text(tokenizer, messages[:i], tools), full)
        for i in range(1, len(messages) + 1)
    ]
    cuts, start, joined = [0], 0, []
    for end in _monotone(ends):
        joined.extend(tokenizer.encode(full[start:end], add_special_tokens=False))
        cuts.append(len(joined))
        start = end
    joined.extend(tokenizer.encode(full[start:], add_special_tokens=False))
    if joined == ids:
        return cuts
    # Tokens merge across a message boundary: find the cuts in id space.
    return _cuts_by_ids(tokenizer, messages, tools, ids)


def _prefix_text(
    tokenizer: ChatTokenizer, messages: Sequence[Message], tools: Sequence[Message] | None
) -> str:
    try:
        return render_text(tokenizer, messages, tools)
    except Exception:
        # The template refuses to end on this message (no cut here).
        return ""


def _cuts_by_ids(
    tokenizer: ChatTokenizer,
    messages: Sequence[Message],
    tools: Sequence[Message] | None,
    ids: list[int],
) -> list[int]:
    ends: list[int] = []
    for i in range(1, len(messages) + 1):
        try:
            prefix = render_ids(tokenizer, messages[:i], tools)
        except Exception:
            prefix = []
        ends.append(common_prefix(prefix, ids))
    return [0, *_monotone(ends)]


def _monotone(ends: list[int]) -> list[int]:
    out: list[int] = []
    for end in ends:
        out.append(max(end, out[-1]) if out else end)
    return out


# ------------------------------------------------------------------- helpers


def anchors_for(message: Message) -> list[tuple[Message, ...]]:
    """Anchors to measure ``message`` after; a tool result first gets its call.

    >>> [a[-1]["role"] for a in anchors_for({"role": "tool", "tool_call_id": "c1"})]
    ['assistant', 'system', 'user', 'assistant']
    """
    call_id = message.get("tool_call_id")
    if message.get("role") != "tool" or not isinstance(call_id, str):
        return list(ANCHORS)
    call = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    with_call = (
        {"role": "user", "content": "."},
        {"role": "assistant", "content": ".", "tool_calls": [call]},
    )
    return [with_call, *ANCHORS]


def request_parts(request: Mapping[str, Any]) -> tuple[list[Message], list[Message] | None]:
    """A request's ``messages`` and ``tools``, checked.

    Raises:
        TypeError: ``request`` is not a mapping with a list of messages.
        ValueError: the list of messages is empty.

    >>> request_parts({"messages": [{"role": "user", "content": "Hi"}]})
    ([{'role': 'user', 'content': 'Hi'}], None)
    """
    if not isinstance(request, Mapping):
        raise TypeError(
            f"request must be a dict with 'messages' (as build_request returns), "
            f"got {type(request).__name__}"
        )
    messages = request.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise TypeError("request['messages'] must be a list of message dicts")
    if not messages:
        raise ValueError("request['messages'] is empty; a chat template needs a message")
    tools = request.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise TypeError(f"request['tools'] must be a list, got {type(tools).__name__}")
    return messages, tools


def common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Length of the longest common prefix of two sequences.

    Slices compare in C, so this bisects instead of looping in Python.

    >>> common_prefix([1, 2, 3, 4], [1, 2, 5]), common_prefix("abc", "abc")
    (2, 3)
    """
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def block_kind(message: Mapping[str, Any], *, first: bool) -> str:
    """The ``CacheBlock.kind`` of an OpenAI-format message.

    >>> block_kind({"role": "tool", "tool_call_id": "c1", "content": "x"}, first=False)
    'tool_result'
    """
    role = message.get("role")
    if role in ("system", "developer") and first:
        return "system"
    if role == "tool":
        return "tool_result"
    return "tool_use" if message.get("tool_calls") else "text"


def id_block(ids: list[int], kind: str, role: str) -> CacheBlock:
    """A block holding ``ids``; its key is a hash of the ids alone.

    >>> id_block([5, 6], "text", "user").tokens
    2
    """
    return CacheBlock(
        key=sha256_hex("ids:" + ",".join(map(str, ids))),
        tokens=len(ids),
        kind=kind,
        role=role,
        token_ids=tuple(ids),
    )
