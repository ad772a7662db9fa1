"""OpenAI Responses API wire format (``client.responses.create``).

Approach: a Responses request is one ordered ``input`` list of *items*. A
message is an item with a ``role``; a tool call is an item of its own
(``function_call`` with a ``call_id``), and so is its result
(``function_call_output`` with the same ``call_id``). So here a "message"
of the core is any input item: tool calls are the ids of call items, tool
results are the ids of output items, and an agent cycle ends with an
assistant message item (not one labelled ``phase: "commentary"``), since
calls never live inside an assistant message.

The static system prompt is the first input item (a ``developer`` message by
default), not the ``instructions`` field. Both reach the model the same way,
but a leading item keeps the whole cacheable prefix in the one list whose
order we control and flatten, lets ``build_messages`` return a complete
prompt, and does not depend on ``instructions`` being re-sent: the API does
not carry ``instructions`` over to a request chained with
``previous_response_id``. stableprefix re-sends the full input every time
(it manages the history), so pass ``store=False`` rather than chaining. The
dynamic context is another message item after the stable part, never in the
system item. Tools use the Responses shape (``{"type": "function", "name":
..., "parameters": ...}``, flat) and are omitted when there are none.
Before GPT-5.6 caching is automatic and prefix-based; ``prompt_cache_key``
routes requests and is passed through when set. GPT-5.6 and later cache only
at breakpoints, placed as for Chat Completions (``_openai_cache``) on
``input_text`` parts of message items and ``function_call_output`` items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .._blocks import CacheBlock, FlatRequest
from .._errors import InvalidConfigError, InvalidMessageError
from .._json import canonical, sha256_hex
from ._base import (
    Message,
    ProviderAdapter,
    RequestParts,
    TextCounter,
    check_token_counter,
)
from ._openai_cache import (
    OpenAICacheMethods,
    add_cache_fields,
    breakpoint_ttl,
    breakpoint_wishes,
    check_breakpoint,
    check_cache_options,
    message_breakpoint,
    plan_breakpoints,
    request_mode,
    without_breakpoints,
)
from ._settings import OPENAI_RESPONSES, request_settings
from ._usage_parse import openai_responses_usage

__all__ = ["OpenAIResponsesAdapter"]

_ROLES = ("user", "assistant", "system", "developer")
_SYSTEM_ROLES = ("developer", "system")
_CONTEXT_ROLES = ("developer", "system", "user")
_INPUT_PARTS = frozenset({"input_text", "input_image", "input_file", "input_audio"})
_OUTPUT_PARTS = frozenset({"output_text", "refusal"})
# Client-executed tool calls and the item type that answers each, by call_id.
_CALLS = {
    "function_call": "function_call_output",
    "custom_tool_call": "custom_tool_call_output",
    "computer_call": "computer_call_output",
    "shell_call": "shell_call_output",
    "apply_patch_call": "apply_patch_call_output",
}
_OUTPUTS = frozenset(_CALLS.values())
# Framing tokens per item (role markers, separators), as in the chat format.
_MESSAGE_OVERHEAD = 4
_CALL_OVERHEAD = 8
_IMAGE_TOKENS = 765


def _fail(msg: str, index: int, role: str | None, path: str = "$") -> InvalidMessageError:
    return InvalidMessageError(msg, index=index, role=role, path=path)


def _parts(item: Message) -> list[Any]:
    value = item.get("output" if _kind(item) in _OUTPUTS else "content")
    return value if isinstance(value, list) else []


def _can_mark(item: Message) -> bool:
    """Whether a breakpoint may go on the item: a non-assistant message or a tool output."""
    kind = _kind(item)
    if kind == "message":
        return item.get("role") != "assistant" and bool(item.get("content"))
    return kind == "function_call_output" and bool(item.get("output"))


def _implicit_at(item: Message) -> bool:
    """Where the service puts its implicit breakpoint: the latest user or tool item."""
    kind = _kind(item)
    return (kind == "message" and item.get("role") == "user") or kind in _OUTPUTS


def _with_breakpoint(item: Message) -> Message:
    """A copy of ``item`` whose last content part carries an explicit breakpoint."""
    field = "output" if _kind(item) in _OUTPUTS else "content"
    value = item[field]
    parts = [{"type": "input_text", "text": value}] if isinstance(value, str) else list(value)
    parts[-1] = {**parts[-1], "prompt_cache_breakpoint": {"mode": "explicit"}}
    return {**item, field: parts}


def _kind(item: Message) -> str:
    """The item's type; a bare ``{"role", "content"}`` is a message."""
    kind = item.get("type")
    if kind is None and "role" in item:
        return "message"
    return kind if isinstance(kind, str) else ""


class OpenAIResponsesAdapter(OpenAICacheMethods, ProviderAdapter):
    """Adapter for the OpenAI Responses API (``client.responses.create``).

    Args:
        system_role: role of the leading item holding the static system
            prompt: ``"developer"`` (default) or ``"system"``.
        context_role: role of the item carrying the dynamic context:
            ``"developer"`` (default), ``"system"`` or ``"user"``.
        prompt_cache_key: a fixed ``prompt_cache_key`` for every request.
        cache_key_buckets: spread conversations over this many keys, by the
            state's ``key``, exactly as ``OpenAIAdapter`` does (see
            ``derive_cache_key`` in ``stableprefix.adapters``).
        prompt_cache_retention: ``"in_memory"`` or ``"24h"`` (models before
            GPT-5.6), passed through; unset leaves the provider default.
        token_counter: an exact counter (e.g. ``TiktokenCounter()``);
            without one, tokens are estimated.
        model: the model you call; GPT-5.6 and later families get explicit
            ``prompt_cache_breakpoint`` marks, as with ``OpenAIAdapter``.
        prompt_cache_mode: ``prompt_cache_options.mode`` (GPT-5.6+):
            ``"implicit"`` or ``"explicit"``; unset sends nothing.
        prompt_cache_ttl: ``prompt_cache_options.ttl`` (``"30m"``), sent when set.
        provider_diagnostics: ask the API for its prompt cache diagnostics
            (GPT-5.6 and later): a request built with the id of the previous
            response carries ``prompt_cache_options.comparison_response_id``,
            and the response says in ``prompt_cache_diagnostics`` whether the
            prefix was reused and, if not, why (read it with
            ``stableprefix.diagnostics.parse_diagnostics``). A
            ``PromptManager`` fills in the id of the last response appended.

    Raises:
        ValueError: a role, key, retention or cache option is not allowed, or
            ``provider_diagnostics`` is asked for a model before GPT-5.6.
        TypeError: ``model`` is not a string, ``token_counter`` has no
            ``count_text`` method, or ``provider_diagnostics`` is not a bool.

    >>> from stableprefix import PromptConfig, new_state
    >>> from stableprefix.functional import append_message, build_request
    >>> cfg = PromptConfig(static_system_prompt="Be brief.",
    ...                    adapter=OpenAIResponsesAdapter(prompt_cache_key="conv-1"))
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> req = build_request(s, cfg)
    >>> req["input"][0], req["prompt_cache_key"]
    ({'role': 'developer', 'content': 'Be brief.'}, 'conv-1')
    """

    name: ClassVar[str] = "openai_responses"
    #: Reads this provider's usage report (see ``ProviderAdapter.parse_usage``).
    parse_usage = staticmethod(openai_responses_usage)
    system_in_messages: ClassVar[bool] = True
    results_all_at_once: ClassVar[bool] = False
    #: Parallel calls are consecutive ``function_call`` items.
    calls_span_messages: ClassVar[bool] = True
    first_roles: ClassVar[frozenset[str]] = frozenset(_ROLES)

    __slots__ = (
        "_cache",
        "cache_key_buckets",
        "context_role",
        "model",
        "prompt_cache_key",
        "prompt_cache_mode",
        "prompt_cache_retention",
        "prompt_cache_ttl",
        "provider_diagnostics",
        "system_role",
        "token_counter",
    )

    def __init__(
        self,
        *,
        system_role: str = "developer",
        context_role: str = "developer",
        prompt_cache_key: str | None = None,
        cache_key_buckets: int | None = None,
        prompt_cache_retention: str | None = None,
        token_counter: TextCounter | None = None,
        model: str | None = None,
        prompt_cache_mode: str | None = None,
        prompt_cache_ttl: str | None = None,
        provider_diagnostics: bool = False,
    ) -> None:
        if system_role not in _SYSTEM_ROLES:
            raise ValueError(f"system_role must be one of {_SYSTEM_ROLES}, got {system_role!r}")
        if context_role not in _CONTEXT_ROLES:
            raise ValueError(f"context_role must be one of {_CONTEXT_ROLES}, got {context_role!r}")
        self._cache = check_cache_options(
            prompt_cache_key,
            cache_key_buckets,
            prompt_cache_retention,
            model=model,
            mode=prompt_cache_mode,
            ttl=prompt_cache_ttl,
        )
        check_token_counter(token_counter)
        if not isinstance(provider_diagnostics, bool):
            raise TypeError(
                f"provider_diagnostics must be a bool, got {type(provider_diagnostics).__name__}"
            )
        if provider_diagnostics and model is not None and not self._cache.breakpoints:
            raise ValueError(
                f"provider_diagnostics needs GPT-5.6 or a later model, not {model!r}: OpenAI "
                "offers prompt cache diagnostics only from GPT-5.6 on"
            )
        self.system_role = system_role
        self.context_role = context_role
        self.prompt_cache_key = prompt_cache_key
        self.cache_key_buckets = cache_key_buckets
        self.prompt_cache_retention = prompt_cache_retention
        self.token_counter = token_counter
        self.model = model
        self.prompt_cache_mode = prompt_cache_mode
        self.prompt_cache_ttl = prompt_cache_ttl
        self.provider_diagnostics = provider_diagnostics

    # ----------------------------------------------------------------- messages

    def validate_message(self, message: Message, *, index: int) -> None:
        kind = _kind(message)
        if kind == "message":
            self._validate_message_item(message, index)
        elif kind in _CALLS or kind in _OUTPUTS:
            self._validate_call_item(message, kind, index)
        elif not kind:
            raise _fail(
                "an input item needs a 'role' (a message) or a string 'type' (e.g. "
                "'function_call', 'function_call_output', 'reasoning')",
                index,
                None,
                "$.type",
            )
        # Other item types (reasoning, hosted tool calls, item_reference, ...)
        # are the API's own output, passed back as they came.

    def _validate_message_item(self, message: Message, index: int) -> None:
        role = message.get("role")
        if role not in _ROLES:
            raise _fail(
                f"a message item's role must be one of {', '.join(_ROLES)}, got {role!r}",
                index,
                role if isinstance(role, str) else None,
                "$.role",
            )
        content = message.get("content")
        if isinstance(content, str):
            return
        if not isinstance(content, list) or not content:
            raise _fail(
                f"a {role} message needs content: a string or a non-empty list of parts",
                index,
                role,
                "$.content",
            )
        allowed = _OUTPUT_PARTS if role == "assistant" else _INPUT_PARTS
        for i, part in enumerate(content):
            path = f"$.content[{i}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if not isinstance(kind, str) or kind not in allowed:
                raise _fail(
                    f"a {role} content part needs type in ({', '.join(sorted(allowed))}), "
                    f"got {kind!r}",
                    index,
                    role,
                    path + ".type",
                )
            if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
                raise _fail(f"an {kind} part needs a string 'text'", index, role, path + ".text")
            if "prompt_cache_breakpoint" in part:
                problem = (
                    "assistant content cannot carry a prompt_cache_breakpoint; put it on "
                    "the user, system/developer or tool item before it"
                    if role == "assistant"
                    else check_breakpoint(part)
                )
                if problem:
                    raise _fail(problem, index, role, path + ".prompt_cache_breakpoint")

    def _validate_call_item(self, message: Message, kind: str, index: int) -> None:
        cid = message.get("call_id")
        if not isinstance(cid, str) or not cid:
            raise _fail(f"a {kind} item needs a non-empty string call_id", index, None, "$.call_id")
        if kind == "function_call" and (
            not isinstance(message.get("name"), str)
            or not isinstance(message.get("arguments"), str)
        ):
            raise _fail(
                "a function_call item needs a string 'name' and 'arguments' (a JSON string)",
                index,
                None,
            )
        if kind in _OUTPUTS and "output" not in message:
            raise _fail(f"a {kind} item needs an 'output'", index, None, "$.output")
        if kind == "function_call_output" and not isinstance(message["output"], (str, list)):
            raise _fail(
                "function_call_output 'output' must be a string or a list of content parts",
                index,
                None,
                "$.output",
            )
        for i, part in enumerate(_parts(message)):
            problem = check_breakpoint(part)
            if problem:
                raise _fail(problem, index, None, f"$.output[{i}].prompt_cache_breakpoint")

    def validate_tools(self, tools: Sequence[Any]) -> None:
        super().validate_tools(tools)
        for i, tool in enumerate(tools):
            kind = tool.get("type")
            if not isinstance(kind, str):
                raise InvalidConfigError(
                    f"tools[{i}] needs a string 'type' (e.g. 'function')", field="tools"
                )
            if kind == "function" and ("function" in tool or not isinstance(tool.get("name"), str)):
                raise InvalidConfigError(
                    f"tools[{i}] must use the flat Responses shape {{'type': 'function', "
                    "'name': ..., 'parameters': {...}}, not the Chat Completions shape with "
                    "a nested 'function' object",
                    field="tools",
                )

    def role_of(self, message: Message) -> str:
        role = message.get("role")
        return role if isinstance(role, str) else ""

    def tool_call_ids(self, message: Message) -> tuple[str, ...]:
        if _kind(message) in _CALLS:
            return (message["call_id"],)
        return ()

    def tool_result_ids(self, message: Message) -> tuple[str, ...]:
        if _kind(message) in _OUTPUTS:
            return (message["call_id"],)
        return ()

    def is_user_turn(self, message: Message) -> bool:
        return _kind(message) == "message" and message.get("role") == "user"

    def is_final_answer(self, message: Message) -> bool:
        return (
            _kind(message) == "message"
            and message.get("role") == "assistant"
            and message.get("phase") != "commentary"
        )

    # ------------------------------------------------------------------- tokens

    def _content_tokens(self, content: Any) -> int:
        if isinstance(content, str):
            return self.count_text_tokens(content)
        total = 0
        for part in content if isinstance(content, list) else ():
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("input_text", "output_text"):
                total += self.count_text_tokens(str(part.get("text", "")))
            elif kind == "refusal":
                total += self.count_text_tokens(str(part.get("refusal", "")))
            elif kind == "input_image":
                total += _IMAGE_TOKENS
            else:
                total += self.count_json_tokens(part)
        return total

    def count_tokens(self, message: Message) -> int:
        kind = _kind(message)
        if kind == "message":
            return _MESSAGE_OVERHEAD + self._content_tokens(message.get("content"))
        if kind == "function_call":
            return (
                _CALL_OVERHEAD
                + self.count_text_tokens(message["name"])
                + self.count_text_tokens(message["arguments"])
            )
        if kind in _OUTPUTS:
            return _MESSAGE_OVERHEAD + self._content_tokens(message.get("output"))
        if kind == "reasoning":
            summary = message.get("summary") or []
            texts = [str(s.get("text", "")) for s in summary if isinstance(s, dict)]
            return _MESSAGE_OVERHEAD + sum(self.count_text_tokens(t) for t in texts)
        return _MESSAGE_OVERHEAD + self.count_json_tokens(message)

    # ---------------------------------------------------------------- rendering

    def context_message(self, text: str) -> Message:
        return {"role": self.context_role, "content": text}

    def summary_message(self, text: str) -> Message:
        return {"role": "user", "content": text}

    def instruction_message(self, text: str) -> Message:
        return {"role": "user", "content": text}

    def render_messages(self, parts: RequestParts) -> list[Message]:
        head: list[Message] = []
        if parts.static_system:
            head.append({"role": self.system_role, "content": parts.static_system})
        return self.layout(parts, head)

    def render(self, parts: RequestParts) -> dict[str, Any]:
        items = self.render_messages(parts)
        if self._cache.breakpoints:
            for i in plan_breakpoints(
                self._cache,
                breakpoint_wishes(
                    self._cache, parts, items, can_mark=_can_mark, implicit_at=_implicit_at
                ),
                caller_marks=sum(1 for m in items for p in _parts(m) if breakpoint_ttl(p)),
                marked=lambda i: bool(breakpoint_ttl((_parts(items[i]) or [None])[-1])),
            ):
                items[i] = _with_breakpoint(items[i])
        request: dict[str, Any] = {"input": items}
        if parts.tools:
            request["tools"] = list(parts.tools)
        add_cache_fields(request, self.cache_key(parts.conversation_key), self._cache)
        if self.provider_diagnostics and parts.previous_response_id is not None:
            options = request.setdefault("prompt_cache_options", {})
            options["comparison_response_id"] = parts.previous_response_id
        return request

    def flatten(self, request: Mapping[str, Any]) -> FlatRequest:
        blocks = self.tool_blocks(request.get("tools") or ())
        instructions = request.get("instructions")
        if isinstance(instructions, str) and instructions:
            blocks.append(
                CacheBlock(
                    key=sha256_hex("instructions:" + instructions),
                    tokens=_MESSAGE_OVERHEAD + self.count_text_tokens(instructions),
                    kind="system",
                    role="system",
                )
            )
        for item in request.get("input") or ():
            first = not any(b.kind != "tools" for b in blocks)
            blocks.append(self._flat(item, first=first, request=request))
        key = request.get("prompt_cache_key")
        return FlatRequest(
            provider=self.name,
            blocks=tuple(blocks),
            routing_key=key if isinstance(key, str) else None,
            cache_mode=request_mode(request),
            settings=request_settings(request, OPENAI_RESPONSES),
        )

    def _flat(self, item: Message, *, first: bool, request: Mapping[str, Any]) -> CacheBlock:
        kind = _kind(item)
        field = "output" if kind in _OUTPUTS else "content"
        role = self.role_of(item) or kind
        if kind in _CALLS:
            block_kind = "tool_use"
        elif kind in _OUTPUTS:
            block_kind = "tool_result"
        elif kind == "reasoning":
            block_kind = "thinking"
        elif kind == "message":
            block_kind = "system" if first and role in _SYSTEM_ROLES else "text"
        else:
            block_kind = "other"
        return CacheBlock(
            key=sha256_hex("item:" + canonical(without_breakpoints(item, field))),
            tokens=self.count_tokens(item),
            kind=block_kind,
            role=role,
            cache_ttl=message_breakpoint(item, field, request),
        )
