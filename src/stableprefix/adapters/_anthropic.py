"""Anthropic Messages wire format and ``cache_control`` placement.

Approach: Anthropic caches only where a request carries ``cache_control``
markers (at most four). Each marker writes an entry for the prefix that ends
at its block; a read looks back from each marker over at most 20 block
positions for an entry written earlier. We therefore mark, in priority
order: the end of the latest stable turn (so the next step of a tool loop
finds it a few positions back), the end of the static part (tools and
system, shared by every conversation), and the end of committed history.
Every marker the caller placed (on a tool, a message block or a block
nested in a tool result) counts towards the four and is never changed; ours
adapt around them (``_anthropic_markers``). Markers are placed
on copies of the few messages that carry them; stored messages are never
touched. The dynamic context is a user message, never part of ``system``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .._blocks import FlatRequest
from .._errors import InvalidConfigError, InvalidMessageError, TransitionError
from ._anthropic_flat import flatten_request
from ._anthropic_markers import (
    STRATEGIES,
    SYSTEM_MESSAGE_MODELS,
    TTLS,
    Candidate,
    check_cache_control,
    marker_of,
    plan_markers,
    sites,
    supports_system_messages,
    ttl_of,
)
from ._base import Message, ProviderAdapter, RequestParts, TextCounter, check_token_counter
from ._usage_parse import anthropic_usage

__all__ = ["AnthropicAdapter"]

_USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
_ASSISTANT_BLOCKS = frozenset(
    {
        "text",
        "tool_use",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})
_MESSAGE_OVERHEAD = 3
_BLOCK_OVERHEAD = {"tool_use": 10, "tool_result": 6, "image": 1600, "document": 1500}


def _fail(msg: str, index: int, role: str | None, path: str = "$") -> InvalidMessageError:
    return InvalidMessageError(msg, index=index, role=role, path=path)


def _model_minimum(model: str | None) -> int:
    """The model's minimum cacheable prefix from the model registry (0 if no
    model; an unknown id gets its family's conservative minimum)."""
    if model is None:
        return 0
    from ..models import get_model  # the one table of per-model facts

    return get_model(model, provider="anthropic").min_cache_tokens


#: Blocks a tool_result's content list may hold.
_RESULT_BLOCKS = frozenset({"text", "image", "document", "search_result"})


def _dump_block(block: Any) -> Any:
    """An SDK content block as a plain dict (other values unchanged)."""
    dump = getattr(block, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) and not isinstance(block, Mapping) else block


def _blocks(message: Message) -> list[Any]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


class AnthropicAdapter(ProviderAdapter):
    """Adapter for the Anthropic Messages API.

    Args:
        model: the model you call (e.g. ``"claude-sonnet-4-5"``); its minimum
            cacheable prefix comes from the price table, so no marker is
            spent where it could not cache anything.
        cache_ttl: TTL of the conversation markers: ``"5m"`` (default;
            writes cost 1.25x) or ``"1h"`` (writes cost 2x).
        static_ttl: TTL of the marker after tools and system prompt, which
            every conversation shares (default: ``cache_ttl``). ``"1h"`` with
            ``cache_ttl="5m"`` keeps the shared part warm between sessions.
        min_cache_tokens: override the model's minimum cacheable prefix.
        token_counter: an exact counter; without one, tokens are estimated.
        cache_strategy: ``"explicit"`` (default): our markers, up to four;
            ``"automatic"``: only a top-level ``cache_control``, which the
            API puts on the last cacheable block (automatic caching, nothing
            of ours); ``"hybrid"``: our marker after tools and system (shared
            by every conversation) plus the top-level one.
        cache_control: a top-level automatic ``cache_control`` to send with
            every request (``{"type": "ephemeral"}``, optional ``"ttl"``). It
            is kept as given and takes one of the four marker slots. The
            automatic and hybrid strategies send one (TTL ``cache_ttl``) when
            this is unset.
        context_role: ``"user"`` (default) or ``"system"``: the dynamic
            context at the tail as a mid-conversation system message, on the
            models that accept one (Claude Opus 4.8); elsewhere, and where
            the placement rules do not allow it, it stays a user message.
        provider_diagnostics: ask the API for its cache diagnostics: every
            request carries ``diagnostics.previous_message_id`` (the id of
            the previous response, ``None`` on the first request, which opts
            it in), and the response says in ``diagnostics.cache_miss_reason``
            whether and where the prefix changed (read it with
            ``stableprefix.diagnostics.parse_diagnostics``). A
            ``PromptManager`` fills in the id of the last response appended.

    Raises:
        ValueError: a TTL, strategy, role or minimum is not allowed.
        TypeError: ``cache_control`` is not a dict, ``token_counter`` cannot
            count, or ``provider_diagnostics`` is not a bool.

    >>> from stableprefix import AnthropicAdapter, PromptConfig, new_state
    >>> from stableprefix.functional import append_message, build_request
    >>> cfg = PromptConfig(static_system_prompt="Be brief.", adapter=AnthropicAdapter())
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> build_request(s, cfg)["system"]
    [{'type': 'text', 'text': 'Be brief.', 'cache_control': {'type': 'ephemeral'}}]
    """

    name: ClassVar[str] = "anthropic"
    #: Reads this provider's usage report (see ``ProviderAdapter.parse_usage``).
    parse_usage = staticmethod(anthropic_usage)
    token_family: ClassVar[str] = "anthropic"
    system_in_messages: ClassVar[bool] = False
    results_all_at_once: ClassVar[bool] = True
    plain_roles: ClassVar[frozenset[str]] = frozenset({"user", "assistant"})
    first_roles: ClassVar[frozenset[str]] = frozenset({"user"})

    __slots__ = (
        "cache_control",
        "cache_strategy",
        "cache_ttl",
        "context_role",
        "min_cache_tokens",
        "model",
        "provider_diagnostics",
        "static_ttl",
        "token_counter",
    )

    def __init__(
        self,
        *,
        model: str | None = None,
        cache_ttl: str = "5m",
        static_ttl: str | None = None,
        min_cache_tokens: int | None = None,
        token_counter: TextCounter | None = None,
        cache_strategy: str = "explicit",
        cache_control: Mapping[str, Any] | None = None,
        context_role: str = "user",
        provider_diagnostics: bool = False,
    ) -> None:
        if not isinstance(provider_diagnostics, bool):
            raise TypeError(
                f"provider_diagnostics must be a bool, got {type(provider_diagnostics).__name__}"
            )
        static_ttl = cache_ttl if static_ttl is None else static_ttl
        for name, ttl in (("cache_ttl", cache_ttl), ("static_ttl", static_ttl)):
            if ttl not in TTLS:
                raise ValueError(f"{name} must be '5m' or '1h', got {ttl!r}")
        if static_ttl == "5m" and cache_ttl == "1h":
            raise ValueError(
                "static_ttl='5m' with cache_ttl='1h' would put a 5-minute entry before a "
                "1-hour one, which the API rejects; use static_ttl='1h'"
            )
        if min_cache_tokens is None:
            min_cache_tokens = _model_minimum(model)
        if (
            isinstance(min_cache_tokens, bool)
            or not isinstance(min_cache_tokens, int)
            or (min_cache_tokens < 0)
        ):
            raise ValueError(f"min_cache_tokens must be an int >= 0, got {min_cache_tokens!r}")
        check_token_counter(token_counter)
        if cache_strategy not in STRATEGIES:
            raise ValueError(
                f"cache_strategy must be one of {', '.join(STRATEGIES)}, got {cache_strategy!r}"
            )
        if cache_control is not None:
            cache_control = check_cache_control(cache_control)
        elif cache_strategy != "explicit":
            cache_control = marker_of(cache_ttl)
        if context_role not in ("user", "system"):
            raise ValueError(f"context_role must be 'user' or 'system', got {context_role!r}")
        if context_role == "system" and not supports_system_messages(model):
            raise ValueError(
                f"context_role='system' needs a model that accepts mid-conversation system "
                f"messages ({', '.join(SYSTEM_MESSAGE_MODELS)}), got model={model!r}"
            )
        self.model = model
        self.cache_ttl = cache_ttl
        self.static_ttl = static_ttl
        self.min_cache_tokens = min_cache_tokens
        self.token_counter = token_counter
        self.cache_strategy = cache_strategy
        self.cache_control = cache_control
        self.context_role = context_role
        self.provider_diagnostics = provider_diagnostics

    @classmethod
    def for_model(cls, model: str | None) -> AnthropicAdapter:
        """Markers follow ``model``'s minimum cacheable prefix.

        >>> AnthropicAdapter.for_model("claude-haiku-4-5").min_cache_tokens
        4096
        """
        return cls(model=model)

    # ----------------------------------------------------------------- messages

    def coerce_message(self, message: Any) -> Mapping[str, Any]:
        """Accept dicts, and a response ``Message`` reduced to role and content.

        A response carries ``id``, ``model``, ``usage`` and ``stop_reason``,
        which the API refuses inside a request's messages.

        >>> AnthropicAdapter().coerce_message({"role": "user", "content": "hi"})
        {'role': 'user', 'content': 'hi'}
        """
        if isinstance(message, Mapping):
            content = message.get("content")
            if isinstance(content, list) and any(not isinstance(b, Mapping) for b in content):
                # {"role": "assistant", "content": response.content}: SDK blocks
                return {**message, "content": [_dump_block(b) for b in content]}
            return message
        data = super().coerce_message(message)
        return {"role": data.get("role"), "content": data.get("content")}

    def validate_message(self, message: Message, *, index: int) -> None:
        role = message.get("role")
        if role == "system":
            raise _fail(
                "the Anthropic API has no system role inside messages; put fixed "
                "instructions in PromptConfig.static_system_prompt and changing ones in "
                "the dynamic context",
                index,
                role,
                "$.role",
            )
        if role not in ("user", "assistant"):
            raise _fail(
                f"role must be 'user' or 'assistant', got {role!r}",
                index,
                role if isinstance(role, str) else None,
                "$.role",
            )
        content = message.get("content")
        if isinstance(content, str):
            if not content.strip():
                raise _fail(
                    "content must not be empty or white space only", index, role, "$.content"
                )
            return
        if not isinstance(content, list) or not content:
            raise _fail(
                "content must be a non-empty string or a non-empty list of blocks",
                index,
                role,
                "$.content",
            )
        allowed = _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS
        seen_other = False
        for i, block in enumerate(content):
            path = f"$.content[{i}]"
            kind = block.get("type") if isinstance(block, dict) else None
            if not isinstance(kind, str) or kind not in allowed:
                raise _fail(
                    f"a {role} block must have type in ({', '.join(sorted(allowed))}), "
                    f"got {kind!r}",
                    index,
                    role,
                    path + ".type",
                )
            self._validate_block(block, index, role, path)
            if kind == "tool_result" and seen_other:
                raise _fail(
                    "tool_result blocks must come before any other block in the message",
                    index,
                    role,
                    path,
                )
            seen_other = seen_other or kind != "tool_result"

    def _validate_block(self, block: dict[str, Any], index: int, role: str, path: str) -> None:
        kind = block["type"]
        if kind == "text" and (
            not isinstance(block.get("text"), str) or not block["text"].strip()
        ):
            raise _fail(
                "a text block needs a non-empty string 'text' (not white space only)",
                index,
                role,
                path + ".text",
            )
        if kind == "tool_use":
            if not isinstance(block.get("id"), str) or not block["id"]:
                raise _fail(
                    "a tool_use block needs a non-empty string id", index, role, path + ".id"
                )
            if not isinstance(block.get("name"), str) or not isinstance(block.get("input"), dict):
                raise _fail(
                    "a tool_use block needs a string 'name' and an object 'input'",
                    index,
                    role,
                    path,
                )
        if kind == "tool_result":
            if not isinstance(block.get("tool_use_id"), str) or not block["tool_use_id"]:
                raise _fail(
                    "a tool_result block needs a non-empty string tool_use_id",
                    index,
                    role,
                    path + ".tool_use_id",
                )
            inner = block.get("content")
            if inner is not None and not isinstance(inner, (str, list)):
                raise _fail(
                    "tool_result content must be a string or a list of blocks",
                    index,
                    role,
                    path + ".content",
                )
            for j, nested in enumerate(inner if isinstance(inner, list) else ()):
                where = f"{path}.content[{j}]"
                kind_j = nested.get("type") if isinstance(nested, dict) else None
                if not isinstance(kind_j, str) or kind_j not in _RESULT_BLOCKS:
                    raise _fail(
                        f"a block inside tool_result content must have type in "
                        f"({', '.join(sorted(_RESULT_BLOCKS))}), got {kind_j!r}",
                        index,
                        role,
                        where + ".type",
                    )
                self._validate_block(nested, index, role, where)
        cc = block.get("cache_control")
        if cc is not None:
            if kind in _UNMARKABLE:
                raise _fail(
                    "cache_control cannot be set on a thinking block",
                    index,
                    role,
                    path + ".cache_control",
                )
            if (
                not isinstance(cc, dict)
                or cc.get("type") != "ephemeral"
                or not isinstance(cc.get("ttl", "5m"), str)
                or cc.get("ttl", "5m") not in TTLS
            ):
                raise _fail(
                    "cache_control must be {'type': 'ephemeral'} with optional ttl '5m' or '1h'",
                    index,
                    role,
                    path + ".cache_control",
                )

    def validate_tools(self, tools: Sequence[Any]) -> None:
        super().validate_tools(tools)
        for i, tool in enumerate(tools):
            if not isinstance(tool.get("name"), str):
                raise InvalidConfigError(
                    f"tools[{i}] needs a string 'name' (and an 'input_schema' object for a "
                    "custom tool)",
                    field="tools",
                )
            if "type" not in tool and not isinstance(tool.get("input_schema"), dict):
                raise InvalidConfigError(
                    f"tools[{i}] ({tool['name']!r}) needs an 'input_schema' object",
                    field="tools",
                )

    def tool_call_ids(self, message: Message) -> tuple[str, ...]:
        if message.get("role") != "assistant" or isinstance(message.get("content"), str):
            return ()
        return tuple(b["id"] for b in message["content"] if b.get("type") == "tool_use")

    def tool_result_ids(self, message: Message) -> tuple[str, ...]:
        if message.get("role") != "user" or isinstance(message.get("content"), str):
            return ()
        return tuple(b["tool_use_id"] for b in message["content"] if b.get("type") == "tool_result")

    def is_user_turn(self, message: Message) -> bool:
        return message.get("role") == "user" and not self.tool_result_ids(message)

    # ------------------------------------------------------------------- tokens

    def block_tokens(self, block: Any) -> int:
        """Tokens one content block adds (without the message's framing)."""
        kind = block.get("type")
        extra = _BLOCK_OVERHEAD.get(kind, 0)
        if kind == "text":
            return self.count_text_tokens(block["text"])
        if kind == "thinking":
            return self.count_text_tokens(str(block.get("thinking", "")))
        if kind == "tool_use":
            return (
                extra
                + self.count_text_tokens(block["name"])
                + self.count_json_tokens(block["input"])
            )
        if kind == "tool_result":
            inner = block.get("content")
            if isinstance(inner, str):
                return extra + self.count_text_tokens(inner)
            if isinstance(inner, list):
                return extra + sum(self.block_tokens(b) for b in inner if isinstance(b, dict))
            return extra
        if kind in ("image", "document"):
            return extra
        return extra + self.count_json_tokens(block)

    def count_tokens(self, message: Message) -> int:
        return _MESSAGE_OVERHEAD + sum(self.block_tokens(b) for b in _blocks(message))

    # ---------------------------------------------------------------- rendering

    def context_message(self, text: str) -> Message:
        return {"role": "user", "content": text}

    def summary_message(self, text: str) -> Message:
        return {"role": "user", "content": text}

    def instruction_message(self, text: str) -> Message:
        return {"role": "user", "content": text}

    def render_messages(self, parts: RequestParts) -> list[Message]:
        messages = self.layout(parts)
        if (
            self.context_role == "system"
            and parts.context is not None
            and parts.position == "tail"
            and len(messages) > 1
            and messages[-2].get("role") == "user"
        ):
            # allowed here: not first, right after a user message, and last
            messages[-1] = {"role": "system", "content": parts.context}
        return messages

    def render(self, parts: RequestParts) -> dict[str, Any]:
        messages = self.render_messages(parts)
        if not messages:
            raise TransitionError(
                "an Anthropic request needs at least one message; append the user's "
                "message (or pass a dynamic context) before building"
            )
        tools = list(parts.tools)
        system: list[Message] = (
            [{"type": "text", "text": parts.static_system}] if parts.static_system else []
        )
        found = sites(tools, system, messages)
        index = {site.path: i for i, site in enumerate(found)}
        wishes = [
            Candidate(index[path], ttl)
            for path, tokens, ttl in self._candidates(parts, messages, tools, system)
            if tokens >= self.min_cache_tokens
        ]
        if self.cache_strategy == "automatic":
            wishes = []
        elif self.cache_strategy == "hybrid":  # the static part only
            wishes = [w for w in wishes if not found[w.site].path.startswith("$.messages")]
        automatic = ttl_of({"cache_control": self.cache_control}) if self.cache_control else None
        for i, ttl in plan_markers(found, wishes, automatic=automatic):
            self._mark(found[i].path, ttl, tools, system, messages)
        request: dict[str, Any] = {}
        if system:
            request["system"] = system
        request["messages"] = messages
        if tools:
            request["tools"] = tools
        if self.cache_control is not None:
            request["cache_control"] = dict(self.cache_control)
        if self.provider_diagnostics:
            request["diagnostics"] = {"previous_message_id": parts.previous_response_id}
        return request

    def _candidates(
        self,
        parts: RequestParts,
        messages: list[Message],
        tools: list[Message],
        system: list[Message],
    ) -> list[tuple[str, int, str]]:
        """Blocks worth a marker of ours ``(path, prefix tokens, ttl)``, best first.

        The end of the stable recent turn (the next step of a tool loop finds
        it within the 20-position lookback), the end of the static part
        (shared by every conversation), the end of committed history.
        """
        n_hist = len(parts.history)
        history_end = parts.static_tokens + parts.history_tokens
        lead = 1 if parts.context is not None and parts.position == "before_recent" else 0
        out: list[tuple[str, int, str]] = []

        def message_end(idx: int, tokens: int) -> None:
            block = self._mark_index(messages[idx])
            if block is not None:
                out.append((f"$.messages[{idx}].content[{block}]", tokens, self.cache_ttl))

        if parts.recent and parts.mark_recent:
            recent = sum(parts.recent_counts)
            if lead and parts.context is not None:
                recent += self.count_text_tokens(parts.context)
            message_end(n_hist + lead + len(parts.recent) - 1, history_end + recent)
        if system:
            out.append((f"$.system[{len(system) - 1}]", parts.static_tokens, self.static_ttl))
        elif tools:
            out.append((f"$.tools[{len(tools) - 1}]", parts.static_tokens, self.static_ttl))
        if n_hist:
            message_end(n_hist - 1, history_end)
        return out

    def _mark(
        self,
        path: str,
        ttl: str,
        tools: list[Message],
        system: list[Message],
        messages: list[Message],
    ) -> None:
        """Put a marker at ``path``, copying only the message that holds it."""
        head, _, rest = path[2:].partition("[")
        idx = int(rest.split("]", 1)[0])
        if head == "tools":
            tools[idx] = self._marked(tools[idx], ttl)
        elif head == "system":
            system[idx] = self._marked(system[idx], ttl)
        else:
            block = int(path.rsplit("[", 1)[1].rstrip("]"))
            content = list(_blocks(messages[idx]))
            content[block] = self._marked(content[block], ttl)
            messages[idx] = {**messages[idx], "content": content}

    def _marked(self, block: Message, ttl: str) -> Message:
        if "cache_control" in block:
            return block
        return {**block, "cache_control": marker_of(ttl)}

    @staticmethod
    def _mark_index(message: Message) -> int | None:
        blocks = _blocks(message)
        for i in range(len(blocks) - 1, -1, -1):
            b = blocks[i]
            if (
                isinstance(b, dict)
                and str(b.get("type")) not in _UNMARKABLE
                and (b.get("type") != "text" or b.get("text"))
            ):
                return i
        return None

    def flatten(self, request: Mapping[str, Any]) -> FlatRequest:
        return flatten_request(self, request)
