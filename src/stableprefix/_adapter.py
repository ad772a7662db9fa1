"""The provider adapter contract: the types the core shares with adapters.

Approach: the core never looks inside a message itself. Everything that
depends on a provider's wire format goes through an adapter: validating a
message, telling which tool calls it makes or answers, counting its tokens,
rendering the final request with cache markers, flattening a request into
the blocks the provider caches by, and reading the provider's usage report.

``ProviderAdapter`` is an abstract base: its abstract methods are exactly
what a provider must supply, and everything that can be said once for all
providers (the conversation layout, token counting through an optional
exact counter, tool cache blocks, value equality) lives here. A subclass
that leaves an abstract method out is refused when it is constructed, with
a ``TypeError`` naming what is missing. Adapters are immutable once built:
a frozen ``PromptConfig`` holds one, so nothing may change under it.

This module belongs to the core (it imports no adapter module); concrete
adapters live in ``stableprefix.adapters`` and are found by name through the
provider registry (``_registry``).
"""

from __future__ import annotations

import json
from abc import ABCMeta, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from ._blocks import CacheBlock, FlatRequest
from ._errors import HookError, InvalidConfigError, InvalidMessageError, translate
from ._json import canonical, sha256_hex
from ._tokens import estimate_json_tokens, estimate_text_tokens
from ._usage import CacheUsage

__all__ = ["Message", "ProviderAdapter", "RequestParts", "TextCounter", "check_token_counter"]

#: A message in the configured provider's wire format, as the caller wrote it.
Message = dict[str, Any]


def check_token_counter(counter: object) -> None:
    """Raise ``TypeError`` unless ``counter`` is ``None`` or has ``count_text``.

    >>> check_token_counter(None)
    """
    if counter is not None and not callable(getattr(counter, "count_text", None)):
        raise TypeError("token_counter needs a count_text(text) -> int method")


class TextCounter(Protocol):
    """Anything that counts the tokens of a string exactly (see ``stableprefix.tokens``).

    >>> class Words:
    ...     def count_text(self, text: str) -> int:
    ...         return len(text.split())
    >>> from stableprefix import OpenAIAdapter
    >>> OpenAIAdapter(token_counter=Words()).count_text_tokens("three small words")
    3
    """

    def count_text(self, text: str) -> int: ...


POSITIONS = ("tail", "before_recent", "append")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestParts:
    """Everything an adapter needs to render one request, in layout order.

    Attributes:
        tools: tool definitions, already in canonical key order.
        static_system: the static system prompt ("" for none).
        history: committed (long-lived) messages.
        recent: the turn in progress.
        context: dynamic context to render this time (``None`` for none).
            With ``dynamic_position="append"`` the context is already stored
            as a message in ``history``/``recent`` and this is ``None``.
        position: ``"tail"``, ``"before_recent"`` or ``"append"``.
        conversation_key: the state's ``key`` (for cache routing), if any.
        static_tokens: tokens of the tools and static system prompt.
        history_tokens: tokens of ``history`` (the running total).
        recent_counts: token count of each message of ``recent``.
        mark_recent: whether the end of ``recent`` is worth a cache entry
            (not for a one-off request such as a summarisation).
        previous_response_id: the id of the response to the previous
            request, for adapters that ask the provider for its cache
            diagnostics (``provider_diagnostics=True``); others ignore it.

    >>> from stableprefix import OpenAIAdapter
    >>> parts = RequestParts(tools=(), static_system="Be brief.", history=[],
    ...                      recent=[{"role": "user", "content": "Hi"}], context="10:00")
    >>> [m["role"] for m in OpenAIAdapter().render(parts)["messages"]]
    ['system', 'user', 'system']
    """

    tools: tuple[Message, ...]
    static_system: str
    history: Sequence[Message]
    recent: Sequence[Message]
    context: str | None = None
    position: str = "tail"
    conversation_key: str | None = None
    static_tokens: int = 0
    history_tokens: int = 0
    recent_counts: Sequence[int] = ()
    mark_recent: bool = True
    previous_response_id: str | None = None


class _AdapterMeta(ABCMeta):
    """Refuses incomplete adapters by name and seals every adapter once built."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            raise TypeError(
                f"{cls.__name__} cannot be built: it does not implement "
                f"{', '.join(missing)}; a provider adapter must define every abstract "
                "method of stableprefix.adapters.ProviderAdapter (see docs/design.md, "
                "'Adding a provider')"
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"{cls.__name__} cannot be built: set the class attribute name "
                "(the provider name stored in a state's format field), e.g. name = 'acme'"
            )
        obj = super().__call__(*args, **kwargs)
        object.__setattr__(obj, "_sealed", True)
        return obj


class ProviderAdapter(metaclass=_AdapterMeta):
    """Base class of provider adapters; subclass it to support a provider.

    A subclass sets ``name`` and implements every abstract method; building
    one that misses any raises ``TypeError`` naming them. Adapters are
    immutable value objects: attributes are set in ``__init__`` and can
    never change afterwards, and two equal adapters behave the same, which
    is what lets a frozen ``PromptConfig`` hold one.

    >>> from stableprefix import OpenAIAdapter
    >>> a = OpenAIAdapter()
    >>> a.tool_call_ids({"role": "assistant", "tool_calls": [
    ...     {"id": "c1", "type": "function",
    ...      "function": {"name": "f", "arguments": "{}"}}]})
    ('c1',)
    >>> a.context_role = "user"
    Traceback (most recent call last):
    ...
    AttributeError: OpenAIAdapter is immutable; build a new adapter instead of setting context_role
    """

    __slots__ = ("_sealed",)

    #: Provider name; also stored in a state's ``format`` field. Required.
    name: ClassVar[str]
    #: Whether the system prompt travels inside the message list.
    system_in_messages: ClassVar[bool] = True
    #: Whether one message must answer every pending tool call at once.
    results_all_at_once: ClassVar[bool] = False
    #: Whether the engine behind this adapter keeps the tokens it generates in
    #: its prefix cache (local engines such as llama.cpp and vLLM do; hosted
    #: APIs cache only what they were sent). Then a small dynamic context is
    #: cheapest kept in the turn, so ``dynamic_position="auto"`` appends it.
    caches_generated_tokens: ClassVar[bool] = False
    #: Whether one model turn's tool calls may come as several consecutive
    #: messages (OpenAI Responses: each call is an item of its own).
    calls_span_messages: ClassVar[bool] = False
    #: Roles a conversation may start with (empty: any).
    first_roles: ClassVar[frozenset[str]] = frozenset()
    #: Roles for which a message of exactly ``{"role": r, "content": text}``,
    #: ``text`` a string neither empty nor blank, is valid anywhere after the
    #: first message and neither calls a tool nor answers one. The state check
    #: passes such messages without calling ``validate_message`` (unless a
    #: subclass overrides the validation or tool id methods). Empty: none.
    plain_roles: ClassVar[frozenset[str]] = frozenset()
    #: Keyword arguments ``coerce_message`` passes to an SDK object's ``model_dump``.
    dump_options: ClassVar[Mapping[str, Any]] = MappingProxyType({"exclude_none": True})

    # ----------------------------------------------------------------- messages

    def coerce_message(self, message: Any) -> Mapping[str, Any]:
        """Turn what a caller passed into a mapping (SDK objects included).

        The base accepts mappings and objects with pydantic's ``model_dump``.

        Raises:
            TypeError: ``message`` is neither.
            InvalidMessageError: the object's ``model_dump`` failed.

        >>> class Broken:
        ...     def model_dump(self, **kwargs: object) -> dict[str, object]:
        ...         raise RuntimeError("validator exploded")
        >>> from stableprefix import OpenAIAdapter
        >>> OpenAIAdapter().coerce_message(Broken())
        Traceback (most recent call last):
        ...
        stableprefix._errors.InvalidMessageError: message: reading a Broken message object \
failed (RuntimeError: validator exploded)
        """
        if isinstance(message, Mapping):
            return message
        dump = getattr(message, "model_dump", None)
        if callable(dump):
            doing = f"reading a {type(message).__name__} message object"
            with translate(InvalidMessageError, Exception, doing=doing):
                data = dump(**self.dump_options)
            if isinstance(data, Mapping):
                return data
        raise TypeError(
            f"a message must be a dict (or an SDK message object), got {type(message).__name__}"
        )

    @abstractmethod
    def validate_message(self, message: Message, *, index: int) -> None:
        """Raise ``InvalidMessageError`` unless ``message`` is valid alone."""
        raise NotImplementedError

    def validate_tools(self, tools: Sequence[Any]) -> None:
        """Raise ``InvalidConfigError`` unless ``tools`` are valid definitions."""
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise InvalidConfigError(
                    f"tools[{i}] must be a dict, got {type(tool).__name__}", field="tools"
                )

    @abstractmethod
    def tool_call_ids(self, message: Message) -> tuple[str, ...]:
        """Ids of the tool calls ``message`` makes (empty for none)."""
        raise NotImplementedError

    @abstractmethod
    def tool_result_ids(self, message: Message) -> tuple[str, ...]:
        """Ids of the tool calls ``message`` answers (empty for none)."""
        raise NotImplementedError

    @abstractmethod
    def is_user_turn(self, message: Message) -> bool:
        """True for a user message that is not (only) tool results."""
        raise NotImplementedError

    def is_final_answer(self, message: Message) -> bool:
        """True for an assistant message that calls no tool (ends an agent cycle)."""
        return message.get("role") == "assistant" and not self.tool_call_ids(message)

    def role_of(self, message: Message) -> str:
        """The message's role ("" when missing)."""
        role = message.get("role")
        return role if isinstance(role, str) else ""

    def check_first(self, message: Message, *, index: int) -> None:
        """Raise unless ``message`` may open a conversation."""
        if self.first_roles and self.role_of(message) not in self.first_roles:
            allowed = " or ".join(sorted(self.first_roles))
            raise InvalidMessageError(
                f"a {self.name} conversation must start with a {allowed} message, "
                f"got role {self.role_of(message)!r}; append the user's message first",
                index=index,
                role=self.role_of(message),
            )

    # ------------------------------------------------------------------- tokens

    #: Token family the heuristic estimate is calibrated for.
    token_family: ClassVar[str] = "openai"

    def count_text_tokens(self, text: str) -> int:
        """Tokens of a plain string: exact with a ``token_counter``, else estimated."""
        counter: TextCounter | None = getattr(self, "token_counter", None)
        if counter is not None:
            return _counted(counter.count_text(text))
        return estimate_text_tokens(text, self.token_family)

    def count_json_tokens(self, value: Any) -> int:
        """Tokens of a JSON value serialised compactly."""
        counter: TextCounter | None = getattr(self, "token_counter", None)
        if counter is not None:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            return _counted(counter.count_text(text))
        return estimate_json_tokens(value, self.token_family)

    @abstractmethod
    def count_tokens(self, message: Message) -> int:
        """Tokens ``message`` adds to a prompt (content plus framing)."""
        raise NotImplementedError

    def count_tools_tokens(self, tools: Sequence[Message]) -> int:
        """Tokens the tool definitions add to a prompt."""
        return sum(self.count_json_tokens(t) for t in tools)

    # ---------------------------------------------------------------- rendering

    @abstractmethod
    def context_message(self, text: str) -> Message:
        """The dynamic context as a message of this provider."""
        raise NotImplementedError

    @abstractmethod
    def summary_message(self, text: str) -> Message:
        """A summary of earlier conversation, as the first history message."""
        raise NotImplementedError

    @abstractmethod
    def instruction_message(self, text: str) -> Message:
        """A user instruction appended for a summarisation request."""
        raise NotImplementedError

    @abstractmethod
    def render(self, parts: RequestParts) -> dict[str, Any]:
        """The SDK keyword arguments for one request."""
        raise NotImplementedError

    def layout(self, parts: RequestParts, head: Sequence[Message] = ()) -> list[Message]:
        """``head`` + history + recent, with the dynamic context where it goes.

        The one place that decides the order of the conversation part of a
        request; adapters wrap it in their own request shape.

        >>> from stableprefix import OpenAIAdapter
        >>> parts = RequestParts(tools=(), static_system="", history=[{"n": 1}],
        ...                      recent=[{"n": 2}], context="ctx", position="before_recent")
        >>> [m.get("n", m.get("content")) for m in OpenAIAdapter().layout(parts)]
        [1, 'ctx', 2]
        """
        if parts.context is None:
            return [*head, *parts.history, *parts.recent]
        ctx = self.context_message(parts.context)
        if parts.position == "before_recent":
            return [*head, *parts.history, ctx, *parts.recent]
        return [*head, *parts.history, *parts.recent, ctx]

    def tool_blocks(self, tools: Iterable[Message]) -> list[CacheBlock]:
        """One cache block per tool definition, for ``flatten``.

        >>> from stableprefix import OpenAIAdapter
        >>> [b.kind for b in OpenAIAdapter().tool_blocks([{"name": "f"}])]
        ['tools']
        """
        return [
            CacheBlock(
                key=sha256_hex("tool:" + canonical(tool)),
                tokens=self.count_json_tokens(tool),
                kind="tools",
                role="tools",
            )
            for tool in tools
        ]

    @abstractmethod
    def render_messages(self, parts: RequestParts) -> list[Message]:
        """The message list alone (OpenAI-style flows)."""
        raise NotImplementedError

    @abstractmethod
    def flatten(self, request: Mapping[str, Any]) -> FlatRequest:
        """The ordered cacheable blocks of a request this adapter built."""
        raise NotImplementedError

    # -------------------------------------------------------------------- usage

    @staticmethod
    @abstractmethod
    def parse_usage(response: Any) -> CacheUsage:
        """Read a response's token usage into a ``CacheUsage``.

        Each adapter points this at its provider's parser, so it can be
        called on the class as well as on an adapter. It accepts the SDK's
        response object, its ``usage`` part, or the same as plain JSON.

        Raises:
            UsageError: the usage report is missing a field or malformed.
            TypeError: ``response`` is neither a mapping nor an object.

        >>> from stableprefix import AnthropicAdapter
        >>> AnthropicAdapter().parse_usage({"usage": {
        ...     "input_tokens": 20, "cache_read_input_tokens": 1000,
        ...     "cache_creation_input_tokens": 50, "output_tokens": 7}}).hit_ratio > 0.9
        True
        """
        raise NotImplementedError

    @classmethod
    def for_model(cls, model: str | None) -> ProviderAdapter:
        """An adapter set up for ``model`` (the benchmark builds its wires with it).

        The base ignores the model; adapters whose rules depend on it (such
        as Anthropic's per-model minimum for a cache marker) override this.

        Raises:
            TypeError: the adapter cannot be built without more arguments.

        >>> from stableprefix import OpenAIAdapter
        >>> OpenAIAdapter.for_model("gpt-5-mini") == OpenAIAdapter()
        True
        """
        return cls()

    # ------------------------------------------------------------------- values

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_sealed", False):
            raise AttributeError(
                f"{type(self).__name__} is immutable; build a new adapter instead of "
                f"setting {name}"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if getattr(self, "_sealed", False):
            raise AttributeError(f"{type(self).__name__} is immutable; cannot delete {name}")
        object.__delattr__(self, name)

    def __setstate__(self, state: Any) -> None:
        # copy and pickle rebuild an adapter through here; it stays sealed.
        attrs: dict[str, Any] = {}
        for part in state if isinstance(state, tuple) else (state,):
            attrs.update(part or {})
        for key, value in attrs.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_sealed", True)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars_of(self) == vars_of(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars_of(self).items(), key=lambda kv: kv[0]))))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in sorted(vars_of(self).items()))
        return f"{type(self).__name__}({fields})"


def _counted(n: object) -> int:
    """A token counter's result, refused unless it is a whole number >= 0."""
    if type(n) is not int or n < 0:
        raise HookError(
            f"returned {n!r}; a token count must be a whole number >= 0", hook="token_counter"
        )
    return n


def vars_of(obj: object) -> dict[str, Any]:
    """Public instance attributes of an adapter (works with and without slots)."""
    names: list[str] = []
    for cls in type(obj).__mro__:
        names.extend(getattr(cls, "__slots__", ()))
    out = {n: getattr(obj, n) for n in names if not n.startswith("_") and hasattr(obj, n)}
    out.update({k: v for k, v in getattr(obj, "__dict__", {}).items() if not k.startswith("_")})
    return out
