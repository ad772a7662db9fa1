"""OpenAI Chat Completions wire format (also what vLLM, llama.cpp and most
OpenAI-compatible servers speak).

Approach: the request is one flat ``messages`` list. The static system
prompt is its first message, committed history follows, then the recent
turn; tools travel in ``tools`` (omitted when there are none, since an empty
list is rejected). The dynamic context is a separate message after the stable part, never
folded into the static system prompt. Models before GPT-5.6 cache any
prefix on their own, so keeping it byte-stable is the whole job; GPT-5.6
and later cache only at breakpoints, which ``_openai_cache`` places.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .._blocks import CacheBlock, FlatRequest
from .._errors import InvalidConfigError, InvalidMessageError, UnsupportedError
from .._json import canonical, sha256_hex
from ._base import (
    Message,
    ProviderAdapter,
    RequestParts,
    TextCounter,
    check_token_counter,
)
from ._engines import LOCAL_ENGINES, add_engine_fields, check_engine
from ._openai_cache import (
    OpenAICacheMethods,
    add_cache_fields,
    breakpoint_ttl,
    breakpoint_wishes,
    check_breakpoint,
    check_cache_options,
    derive_cache_key,
    message_breakpoint,
    plan_breakpoints,
    request_mode,
    without_breakpoints,
)
from ._settings import OPENAI_CHAT, request_settings
from ._usage_parse import openai_chat_usage

__all__ = ["OpenAIAdapter", "derive_cache_key"]

_ROLES = ("system", "developer", "user", "assistant", "tool")
_USER_PARTS = frozenset({"text", "image_url", "input_audio", "file"})
_ASSISTANT_PARTS = frozenset({"text", "refusal"})
_CONTEXT_ROLES = ("system", "developer", "user")
_REQUEST_FIELDS = ("role", "content", "name", "tool_calls", "tool_call_id", "refusal", "audio")
# Framing tokens per message and per tool call (role markers, separators).
_MESSAGE_OVERHEAD = 4
_TOOL_CALL_OVERHEAD = 8
_IMAGE_TOKENS = 765


def _fail(msg: str, index: int, role: str | None, path: str = "$") -> InvalidMessageError:
    return InvalidMessageError(msg, index=index, role=role, path=path)


def _parts(message: Message) -> list[Any]:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _can_mark(message: Message) -> bool:
    """Whether a breakpoint may go on the message (not assistant, some content)."""
    content = message.get("content")
    return message.get("role") in ("system", "developer", "user", "tool") and bool(content)


def _implicit_at(message: Message) -> bool:
    """Where the service puts its implicit breakpoint: the latest user or tool message."""
    return message.get("role") in ("user", "tool")


def _with_breakpoint(message: Message) -> Message:
    """A copy of ``message`` whose last content part carries an explicit breakpoint."""
    content = message["content"]
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    parts[-1] = {**parts[-1], "prompt_cache_breakpoint": {"mode": "explicit"}}
    return {**message, "content": parts}


class OpenAIAdapter(OpenAICacheMethods, ProviderAdapter):
    """Adapter for the OpenAI Chat Completions format.

    Args:
        context_role: role of the message that carries the dynamic context:
            ``"system"`` (default), ``"developer"`` (reasoning models) or
            ``"user"`` (servers whose chat template rejects a late system
            message).
        prompt_cache_key: a fixed ``prompt_cache_key`` for every request.
        cache_key_buckets: spread conversations over this many keys, each
            conversation (the state's ``key``) always in the same one; see
            ``derive_cache_key``. Unset: no key, so conversations share the
            cached tools and system prompt (best below ~15 requests/minute).
        prompt_cache_retention: ``"in_memory"`` or ``"24h"`` (extended
            caching, models before GPT-5.6), passed through; unset leaves
            the provider default.
        token_counter: an exact counter (e.g. ``TiktokenCounter()``);
            without one, tokens are estimated.
        model: the model you call. GPT-5.6 and later families (any id that
            names such a version, e.g. ``"gpt-5.6-terra"``) get explicit
            ``prompt_cache_breakpoint`` marks at the end of the stable parts;
            other ids and ``None`` keep the earlier automatic caching.
        prompt_cache_mode: ``prompt_cache_options.mode`` for GPT-5.6+:
            ``"implicit"`` or ``"explicit"`` (only our and your breakpoints
            are written); unset sends nothing (the service default, implicit).
        prompt_cache_ttl: ``prompt_cache_options.ttl`` (``"30m"``, the only
            value), sent when set.
        engine: the server behind the endpoint: ``"openai"`` (default),
            ``"llama.cpp"``, ``"vllm"`` or ``"sglang"``. A local engine caches
            the reply it generated, so ``dynamic_position="auto"`` appends a
            small context to the turn, and no ``prompt_cache_key`` is sent.
        slots: with ``engine="llama.cpp"``, the server's slot count; each
            conversation (the state's ``key``) is pinned to one slot with
            ``id_slot`` (sent in ``extra_body``). Unset: the server picks.
        provider_diagnostics: refused: Chat Completions has no prompt cache
            diagnostics (``OpenAIResponsesAdapter`` has them).

    Raises:
        ValueError: an option is not allowed, or two options exclude each other.
        TypeError: ``model`` is not a string, or ``token_counter`` cannot count.
        UnsupportedError: ``provider_diagnostics=True``.

    >>> from stableprefix import OpenAIAdapter, PromptConfig, new_state
    >>> from stableprefix.functional import append_message, build_request
    >>> cfg = PromptConfig(static_system_prompt="Be brief.", adapter=OpenAIAdapter())
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> build_request(s, cfg)["messages"][0]
    {'role': 'system', 'content': 'Be brief.'}
    """

    name: ClassVar[str] = "openai"
    #: Reads this provider's usage report (see ``ProviderAdapter.parse_usage``).
    parse_usage = staticmethod(openai_chat_usage)
    system_in_messages: ClassVar[bool] = True
    results_all_at_once: ClassVar[bool] = False
    first_roles: ClassVar[frozenset[str]] = frozenset({"system", "developer", "user", "assistant"})
    plain_roles: ClassVar[frozenset[str]] = first_roles

    __slots__ = (
        "_cache",
        "cache_key_buckets",
        "context_role",
        "engine",
        "model",
        "prompt_cache_key",
        "prompt_cache_mode",
        "prompt_cache_retention",
        "prompt_cache_ttl",
        "slots",
        "token_counter",
    )

    def __init__(
        self,
        *,
        context_role: str = "system",
        prompt_cache_key: str | None = None,
        cache_key_buckets: int | None = None,
        prompt_cache_retention: str | None = None,
        token_counter: TextCounter | None = None,
        model: str | None = None,
        prompt_cache_mode: str | None = None,
        prompt_cache_ttl: str | None = None,
        engine: str = "openai",
        slots: int | None = None,
        provider_diagnostics: bool = False,
    ) -> None:
        if provider_diagnostics:
            raise UnsupportedError(
                "Chat Completions has no prompt cache diagnostics (OpenAI offers them in the "
                "Responses API only, GPT-5.6 and later); use OpenAIResponsesAdapter("
                "provider_diagnostics=True), or explain misses locally with "
                "stableprefix.diagnostics.explain",
                provider=self.name,
            )
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
        openai_only = (
            prompt_cache_key, cache_key_buckets, prompt_cache_retention,
            prompt_cache_mode, prompt_cache_ttl,
        )  # fmt: skip
        check_engine(engine, slots, openai_cache_options=any(o is not None for o in openai_only))
        self.engine = engine
        self.slots = slots
        self.context_role = context_role
        self.prompt_cache_key = prompt_cache_key
        self.cache_key_buckets = cache_key_buckets
        self.prompt_cache_retention = prompt_cache_retention
        self.token_counter = token_counter
        self.model = model
        self.prompt_cache_mode = prompt_cache_mode
        self.prompt_cache_ttl = prompt_cache_ttl

    @property
    def caches_generated_tokens(self) -> bool:  # type: ignore[override]
        """Whether the engine keeps its replies in its prefix cache (local engines)."""
        return self.engine in LOCAL_ENGINES

    # ----------------------------------------------------------------- messages

    def coerce_message(self, message: Any) -> Mapping[str, Any]:
        """Accept dicts, and SDK message objects reduced to request fields.

        A response's ``choices[0].message`` carries fields that exist only in
        responses (``annotations``, ``audio`` data); they are dropped so the
        message can be sent back.

        >>> OpenAIAdapter().coerce_message({"role": "user", "content": "hi"})
        {'role': 'user', 'content': 'hi'}
        """
        if isinstance(message, Mapping):
            return message
        data = super().coerce_message(message)
        out = {k: data[k] for k in _REQUEST_FIELDS if data.get(k) is not None}
        if "audio" in out and isinstance(out["audio"], Mapping):
            out["audio"] = {"id": out["audio"].get("id")}
        if isinstance(out.get("tool_calls"), (list, tuple)):
            # Anything malformed is kept as it is, for validate_message to name.
            out["tool_calls"] = [
                {
                    "id": c.get("id"),
                    "type": c.get("type", "function"),
                    "function": c.get("function"),
                }
                if isinstance(c, Mapping)
                else c
                for c in out["tool_calls"]
            ]
        return out

    def validate_message(self, message: Message, *, index: int) -> None:
        role = message.get("role")
        if role not in _ROLES:
            raise _fail(
                f"role must be one of {', '.join(_ROLES)}, got {role!r}",
                index,
                role if isinstance(role, str) else None,
                "$.role",
            )
        name = message.get("name")
        if name is not None and not isinstance(name, str):
            raise _fail("name must be a string", index, role, "$.name")
        if role == "assistant":
            self._validate_assistant(message, index)
        elif role == "tool":
            self._validate_tool(message, index)
        else:
            self._validate_content(
                message, index, role, _USER_PARTS if role == "user" else {"text"}
            )

    def _validate_content(
        self, message: Message, index: int, role: str, parts: Any, *, optional: bool = False
    ) -> None:
        if "content" not in message or message["content"] is None:
            if optional:
                return
            raise _fail(
                f"a {role} message needs content (a string or a list of parts)", index, role
            )
        content = message["content"]
        if isinstance(content, str):
            return
        if not isinstance(content, list) or not content:
            raise _fail(
                "content must be a string or a non-empty list of parts, got "
                f"{type(content).__name__}",
                index,
                role,
                "$.content",
            )
        for i, part in enumerate(content):
            path = f"$.content[{i}]"
            if not isinstance(part, dict) or not isinstance(part.get("type"), str) or (
                part["type"] not in parts
            ):
                kinds = ", ".join(sorted(parts))
                got = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise _fail(
                    f"each part must be an object with type in ({kinds}), got {got!r}",
                    index,
                    role,
                    path,
                )
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise _fail("a text part needs a string 'text'", index, role, path + ".text")
            if "prompt_cache_breakpoint" in part:
                problem = (
                    "assistant content cannot carry a prompt_cache_breakpoint; put it on "
                    "the user, system/developer or tool message before it"
                    if role == "assistant"
                    else check_breakpoint(part)
                )
                if problem:
                    raise _fail(problem, index, role, path + ".prompt_cache_breakpoint")

    def _validate_assistant(self, message: Message, index: int) -> None:
        calls = message.get("tool_calls")
        self._validate_content(message, index, "assistant", _ASSISTANT_PARTS, optional=True)
        if calls is None:
            if (
                message.get("content") is None
                and "refusal" not in message
                and "audio" not in message
            ):
                raise _fail("an assistant message needs content or tool_calls", index, "assistant")
            return
        if not isinstance(calls, list) or not calls:
            raise _fail("tool_calls must be a non-empty list", index, "assistant", "$.tool_calls")
        seen: set[str] = set()
        for i, call in enumerate(calls):
            path = f"$.tool_calls[{i}]"
            if not isinstance(call, dict):
                raise _fail("a tool call must be an object", index, "assistant", path)
            cid = call.get("id")
            if not isinstance(cid, str) or not cid:
                raise _fail(
                    "a tool call needs a non-empty string id", index, "assistant", path + ".id"
                )
            if cid in seen:
                raise _fail(f"tool call id {cid!r} is used twice", index, "assistant", path + ".id")
            seen.add(cid)
            fn = call.get("function")
            if call.get("type", "function") != "function" or not isinstance(fn, dict):
                raise _fail(
                    "a tool call needs type 'function' and a 'function' object",
                    index,
                    "assistant",
                    path,
                )
            if not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments"), str):
                raise _fail(
                    "function needs a string 'name' and 'arguments' (a JSON string)",
                    index,
                    "assistant",
                    path + ".function",
                )

    def _validate_tool(self, message: Message, index: int) -> None:
        cid = message.get("tool_call_id")
        if not isinstance(cid, str) or not cid:
            raise _fail(
                "a tool message needs a non-empty string tool_call_id",
                index,
                "tool",
                "$.tool_call_id",
            )
        self._validate_content(message, index, "tool", {"text"})

    def validate_tools(self, tools: Sequence[Any]) -> None:
        super().validate_tools(tools)
        for i, tool in enumerate(tools):
            fn = tool.get("function")
            if (
                tool.get("type") != "function"
                or not isinstance(fn, dict)
                or not isinstance(fn.get("name"), str)
            ):
                raise InvalidConfigError(
                    f"tools[{i}] must look like {{'type': 'function', 'function': "
                    "{'name': ..., 'parameters': {...}}}",
                    field="tools",
                )

    def tool_call_ids(self, message: Message) -> tuple[str, ...]:
        calls = message.get("tool_calls")
        if message.get("role") != "assistant" or not calls:
            return ()
        return tuple(c["id"] for c in calls)

    def tool_result_ids(self, message: Message) -> tuple[str, ...]:
        if message.get("role") == "tool":
            return (message["tool_call_id"],)
        return ()

    def is_user_turn(self, message: Message) -> bool:
        return message.get("role") == "user"

    # ------------------------------------------------------------------- tokens

    def _content_tokens(self, content: Any) -> int:
        if content is None:
            return 0
        if isinstance(content, str):
            return self.count_text_tokens(content)
        total = 0
        for part in content:
            kind = part.get("type")
            if kind == "text":
                total += self.count_text_tokens(part["text"])
            elif kind == "refusal":
                total += self.count_text_tokens(str(part.get("refusal", "")))
            elif kind == "image_url":
                total += _IMAGE_TOKENS
            else:
                total += self.count_json_tokens(part)
        return total

    def count_tokens(self, message: Message) -> int:
        total = _MESSAGE_OVERHEAD + self._content_tokens(message.get("content"))
        if "name" in message:
            total += 1
        for call in message.get("tool_calls") or ():
            fn = call["function"]
            total += _TOOL_CALL_OVERHEAD + self.count_text_tokens(fn["name"])
            total += self.count_text_tokens(fn["arguments"])
        return total

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
            head.append({"role": "system", "content": parts.static_system})
        return self.layout(parts, head)

    def render(self, parts: RequestParts) -> dict[str, Any]:
        messages = self.render_messages(parts)
        if self._cache.breakpoints:
            for i in plan_breakpoints(
                self._cache,
                breakpoint_wishes(
                    self._cache, parts, messages, can_mark=_can_mark, implicit_at=_implicit_at
                ),
                caller_marks=sum(1 for m in messages for p in _parts(m) if breakpoint_ttl(p)),
                marked=lambda i: bool(breakpoint_ttl((_parts(messages[i]) or [None])[-1])),
            ):
                messages[i] = _with_breakpoint(messages[i])
        request: dict[str, Any] = {"messages": messages}
        if parts.tools:
            request["tools"] = list(parts.tools)
        add_cache_fields(request, self.cache_key(parts.conversation_key), self._cache)
        add_engine_fields(request, self.engine, self.slots, parts.conversation_key)
        return request

    def flatten(self, request: Mapping[str, Any]) -> FlatRequest:
        blocks = self.tool_blocks(request.get("tools") or ())
        for message in request.get("messages") or ():
            role = str(message.get("role", ""))
            kind = (
                "tool_result"
                if role == "tool"
                else ("tool_use" if message.get("tool_calls") else "text")
            )
            blocks.append(
                CacheBlock(
                    key=sha256_hex("msg:" + canonical(without_breakpoints(message, "content"))),
                    tokens=self.count_tokens(message),
                    kind="system" if role in ("system", "developer") and not blocks else kind,
                    role=role,
                    cache_ttl=message_breakpoint(message, "content", request),
                )
            )
        key = request.get("prompt_cache_key")
        return FlatRequest(
            provider=self.name,
            blocks=tuple(blocks),
            routing_key=key if isinstance(key, str) else None,
            cache_mode=request_mode(request),
            settings=() if self.caches_generated_tokens else request_settings(request, OPENAI_CHAT),
        )
