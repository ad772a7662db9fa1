"""OpenAI prompt-cache fields: routing keys, retention, and GPT-5.6+ breakpoints.

Approach: models before GPT-5.6 cache the longest matching prefix on their
own; all we add is ``prompt_cache_key`` and ``prompt_cache_retention`` when
set. GPT-5.6 and every later family cache *only at breakpoints*: by default
one implicit breakpoint at the latest user or tool message, plus explicit
``prompt_cache_breakpoint: {"mode": "explicit"}`` fields on content parts of
user, system/developer or tool messages (never assistant content). A stable
prefix followed by a changing suffix therefore never hits unless a
breakpoint ends the stable part. So, for those models, we mark best first:

1. the end of the static part (tools and system prompt), which every
   conversation shares;
2. the end of the turn in progress, when the implicit breakpoint will not
   land there (explicit mode, or the dynamic context is the latest user
   message);
3. the end of committed history, which the next turn finds among the
   earlier message endings even when the dynamic context before the turn
   changed.

A request writes at most four breakpoints, one of them implicit in implicit
mode, so ours and the caller's together stay within three (four in explicit
mode); a caller's breakpoints are kept and counted, and a prefix below the
1,024-token minimum is not marked.

Source: https://developers.openai.com/api/docs/guides/prompt-caching (copy
of 2026-09-26) and the ``openai`` SDK's ``PromptCacheOptions`` and
``prompt_cache_breakpoint`` types (openai 3.54), read 2026-12-01.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .._json import sha256_hex
from ._base import Message, RequestParts, vars_of

__all__ = [
    "BREAKPOINT_MIN_TOKENS",
    "CacheOptions",
    "OpenAICacheMethods",
    "Slot",
    "add_cache_fields",
    "breakpoint_ttl",
    "breakpoint_wishes",
    "check_breakpoint",
    "check_cache_options",
    "derive_cache_key",
    "message_breakpoint",
    "plan_breakpoints",
    "request_mode",
    "uses_breakpoints",
    "without_breakpoints",
]

_RETENTIONS = (None, "in_memory", "24h")
_MODES = (None, "implicit", "explicit")
_TTLS = (None, "30m")
_BREAKPOINT_TTLS = ("30m", "12h")
#: "1,024 tokens is a strict minimum" on GPT-5.6+ (prompt caching guide, 2026-09-26).
BREAKPOINT_MIN_TOKENS = 1024
#: Writes per request: four, one of them the implicit breakpoint in implicit mode.
_WRITES = {"implicit": 3, "explicit": 4}


def _model_rules(model: str | None) -> tuple[bool, int]:
    """(caches at breakpoints, minimum cacheable tokens) from the model registry."""
    if model is None:
        return False, BREAKPOINT_MIN_TOKENS
    from ..models import get_model  # the one table of per-model facts

    info = get_model(model, provider="openai")
    return info.cache_semantics == "openai-breakpoints", info.min_cache_tokens


def uses_breakpoints(model: str | None) -> bool:
    """Whether ``model`` caches at breakpoints (GPT-5.6 and every later family).

    The model registry decides, so aliases, provider prefixes and dated ids
    work; an id it does not know gets its family's rules, and ``None``
    keeps the earlier any-prefix rules.

    >>> uses_breakpoints("gpt-5.6-terra"), uses_breakpoints("openai/gpt-6.1-sol")
    (True, True)
    >>> uses_breakpoints("gpt-5.5"), uses_breakpoints("gpt-4o-mini"), uses_breakpoints(None)
    (False, False, False)
    """
    return _model_rules(model)[0]


def breakpoint_ttl(part: Any) -> str | None:
    """The TTL of a content part's explicit breakpoint (``None`` when it has none).

    >>> breakpoint_ttl({"type": "text", "text": "x",
    ...                 "prompt_cache_breakpoint": {"mode": "explicit"}})
    '30m'
    """
    if not isinstance(part, dict):
        return None
    mark = part.get("prompt_cache_breakpoint")
    if not isinstance(mark, dict):
        return None
    ttl = mark.get("ttl", "30m")
    return ttl if ttl in _BREAKPOINT_TTLS else "30m"


def check_breakpoint(part: Any) -> str | None:
    """Why a part's ``prompt_cache_breakpoint`` is malformed (``None``: it is fine).

    >>> check_breakpoint({"prompt_cache_breakpoint": {"mode": "implicit"}})
    "prompt_cache_breakpoint must be {'mode': 'explicit'} with optional ttl '30m' or '12h'"
    """
    mark = part.get("prompt_cache_breakpoint") if isinstance(part, dict) else None
    if mark is None:
        return None
    if (
        not isinstance(mark, dict)
        or mark.get("mode") != "explicit"
        or mark.get("ttl", "30m") not in _BREAKPOINT_TTLS
        or set(mark) - {"mode", "ttl"}
    ):
        return (
            "prompt_cache_breakpoint must be {'mode': 'explicit'} with optional ttl '30m' or '12h'"
        )
    return None


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """The prompt-cache settings an OpenAI adapter sends.

    Attributes:
        breakpoints: whether the model caches at breakpoints (GPT-5.6+).
        min_tokens: the shortest prefix worth a breakpoint.
        mode: ``prompt_cache_options.mode`` to send (``None``: not sent).
        ttl: ``prompt_cache_options.ttl`` to send (``None``: not sent).
        retention: ``prompt_cache_retention`` to send (``None``: not sent).
    """

    breakpoints: bool
    min_tokens: int = BREAKPOINT_MIN_TOKENS
    mode: str | None = None
    ttl: str | None = None
    retention: str | None = None

    @property
    def writes(self) -> int:
        """Explicit breakpoints one request may write."""
        return _WRITES[self.mode or "implicit"]


def check_cache_options(
    key: object,
    buckets: object,
    retention: object,
    *,
    model: object = None,
    mode: object = None,
    ttl: object = None,
) -> CacheOptions:
    """Validate the prompt-cache options shared by the OpenAI adapters.

    Raises:
        ValueError: a value is not allowed, or two options exclude each other.
        TypeError: ``model`` is not a string or ``None``.

    >>> check_cache_options(None, None, None, model="gpt-5.6-sol").breakpoints
    True
    """
    if model is not None and not isinstance(model, str):
        raise TypeError(f"model must be a string or None, got {type(model).__name__}")
    if key is not None and (not isinstance(key, str) or not key):
        raise ValueError("prompt_cache_key must be a non-empty string or None")
    if buckets is not None and (
        isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1
    ):
        raise ValueError(f"cache_key_buckets must be an int >= 1 or None, got {buckets!r}")
    if key is not None and buckets is not None:
        raise ValueError("set prompt_cache_key or cache_key_buckets, not both")
    if retention not in _RETENTIONS:
        raise ValueError(
            f"prompt_cache_retention must be 'in_memory', '24h' or None, got {retention!r}"
        )
    if mode not in _MODES:
        raise ValueError(f"prompt_cache_mode must be 'implicit', 'explicit' or None, got {mode!r}")
    if ttl not in _TTLS:
        raise ValueError(f"prompt_cache_ttl must be '30m' (the only value) or None, got {ttl!r}")
    if ttl is not None and retention is not None:
        raise ValueError(
            "prompt_cache_retention applies to models before GPT-5.6 and the API rejects it "
            "together with prompt_cache_options.ttl; set one of prompt_cache_retention and "
            "prompt_cache_ttl"
        )
    breakpoints, minimum = _model_rules(model)
    breakpoints = breakpoints or (model is None and (mode or ttl) is not None)
    if (mode or ttl) is not None and not breakpoints:
        raise ValueError(
            f"prompt_cache_mode and prompt_cache_ttl need GPT-5.6 or a later model, not "
            f"{model!r}; earlier models cache automatically (use prompt_cache_retention)"
        )
    return CacheOptions(breakpoints, minimum, mode, ttl, retention)


def derive_cache_key(
    fixed: str | None, buckets: int | None, conversation_key: str | None
) -> str | None:
    """The ``prompt_cache_key`` for a conversation, by the rule both OpenAI adapters use.

    OpenAI routes a request by a hash of its first tokens plus this key,
    and a prefix+key pair past about 15 requests a minute overflows to other
    machines. With no key, every conversation sharing the tools and system
    prompt lands on the machine that caches them (best at low traffic). With
    ``buckets`` the conversations are spread over that many keys, each
    conversation always in the same one (hashed, so no id leaves your
    system): pick it near your peak requests per minute divided by 15.

    >>> derive_cache_key(None, None, "chat-42") is None
    True
    >>> derive_cache_key(None, 8, "chat-42") == derive_cache_key(None, 8, "chat-42")
    True
    >>> derive_cache_key("fixed", None, "chat-42")
    'fixed'
    """
    if fixed is not None:
        return fixed
    if buckets is None:
        return None
    digest = sha256_hex(conversation_key or "")
    return f"sp-{int(digest[:12], 16) % buckets}-of-{buckets}"


def add_cache_fields(request: dict[str, Any], key: str | None, options: CacheOptions) -> None:
    """Put ``prompt_cache_key``, ``prompt_cache_options`` and retention on a request when set.

    >>> r = {}
    >>> add_cache_fields(r, "k", CacheOptions(True, mode="explicit"))
    >>> r
    {'prompt_cache_key': 'k', 'prompt_cache_options': {'mode': 'explicit'}}
    """
    if key is not None:
        request["prompt_cache_key"] = key
    cache_options = {k: v for k, v in (("mode", options.mode), ("ttl", options.ttl)) if v}
    if cache_options:
        request["prompt_cache_options"] = cache_options
    if options.retention is not None:
        request["prompt_cache_retention"] = options.retention


@dataclass(frozen=True, slots=True)
class Slot:
    """A message of the rendered request that could carry one of our breakpoints.

    Attributes:
        index: the message's index in the rendered list.
        prefix_tokens: tokens of the prompt up to the end of that message.
    """

    index: int
    prefix_tokens: int


def _last(messages: Sequence[Message], start: int, stop: int, ok: Callable[[Message], bool]) -> int:
    for i in range(stop - 1, start - 1, -1):
        if ok(messages[i]):
            return i
    return -1


def breakpoint_wishes(
    options: CacheOptions,
    parts: RequestParts,
    messages: Sequence[Message],
    *,
    can_mark: Callable[[Message], bool],
    implicit_at: Callable[[Message], bool],
) -> list[Slot]:
    """Our breakpoint candidates in a rendered request, best first.

    The rendered list is ``[static system] history [context] recent
    [context]`` (see ``ProviderAdapter.layout``); token counts come from
    ``parts``, so nothing is counted again.
    """
    head = 1 if parts.static_system else 0
    n_hist = len(parts.history)
    lead = 1 if parts.context is not None and parts.position == "before_recent" else 0
    start = head + n_hist + lead
    history_end = parts.static_tokens + parts.history_tokens
    out: list[Slot] = []
    if head and can_mark(messages[0]):
        out.append(Slot(0, parts.static_tokens))
    # in implicit mode the service already writes the latest user or tool message
    implicit = -1 if options.mode == "explicit" else _last(messages, 0, len(messages), implicit_at)
    turn = _last(messages, start, start + len(parts.recent), can_mark) if parts.mark_recent else -1
    if turn >= 0 and turn != implicit:
        out.append(Slot(turn, history_end + sum(parts.recent_counts[: turn - start + 1])))
    hist = _last(messages, head, head + n_hist, can_mark)
    if hist >= 0 and hist != implicit:
        out.append(Slot(hist, history_end))
    return out


def plan_breakpoints(
    options: CacheOptions,
    wishes: Sequence[Slot],
    *,
    caller_marks: int,
    marked: Callable[[int], bool],
) -> list[int]:
    """Which messages get one of our breakpoints, within the writes allowed.

    Args:
        options: the adapter's cache options.
        wishes: our candidates, best first.
        caller_marks: breakpoints the caller placed in the request.
        marked: whether message ``index`` already ends with a breakpoint.

    >>> plan_breakpoints(CacheOptions(True), [Slot(0, 2000), Slot(5, 900), Slot(3, 1500)],
    ...                  caller_marks=1, marked=lambda i: False)
    [0, 3]
    """
    if not options.breakpoints:
        return []
    budget = options.writes - caller_marks
    chosen: list[int] = []
    for slot in wishes:
        if len(chosen) >= budget:
            break
        if slot.index in chosen or slot.prefix_tokens < options.min_tokens or marked(slot.index):
            continue
        chosen.append(slot.index)
    return chosen


# ------------------------------------------------------------------ flattening

_PLAIN_TEXT = ("text", "input_text")


def without_breakpoints(message: Message, field: str) -> Message:
    """``message`` as the cache sees it: breakpoints removed, one text part as a string.

    A breakpoint is not part of the prompt, and a lone text part renders
    exactly as a string, so both forms of one message get the same key.

    >>> without_breakpoints({"role": "user", "content": [{"type": "text", "text": "hi",
    ...     "prompt_cache_breakpoint": {"mode": "explicit"}}]}, "content")
    {'role': 'user', 'content': 'hi'}
    """
    value = message.get(field)
    if not isinstance(value, list):
        return message
    bare = [
        {k: v for k, v in p.items() if k != "prompt_cache_breakpoint"} if isinstance(p, dict) else p
        for p in value
    ]
    lone = bare[0] if len(bare) == 1 and isinstance(bare[0], dict) else {}
    if lone.get("type") in _PLAIN_TEXT and set(lone) == {"type", "text"}:
        return {**message, field: lone["text"]}
    return {**message, field: bare}


def message_breakpoint(message: Message, field: str, request: Mapping[str, Any]) -> str | None:
    """The TTL of the explicit breakpoint a message carries (``None``: none).

    A breakpoint on an earlier part of a message is counted at the message's
    end (the simulator works per message).

    >>> message_breakpoint({"content": [{"type": "text", "text": "x",
    ...     "prompt_cache_breakpoint": {"mode": "explicit"}}]}, "content", {})
    '30m'
    """
    value = message.get(field)
    if not isinstance(value, list):
        return None
    found = [p for p in value if breakpoint_ttl(p)]
    if not found:
        return None
    explicit = found[-1]["prompt_cache_breakpoint"].get("ttl")
    if explicit in _BREAKPOINT_TTLS:
        return str(explicit)
    options = request.get("prompt_cache_options")
    ttl = options.get("ttl") if isinstance(options, Mapping) else None
    return ttl if ttl in _BREAKPOINT_TTLS else "30m"


def request_mode(request: Mapping[str, Any]) -> str | None:
    """``prompt_cache_options.mode`` of a request (``None`` when not set).

    >>> request_mode({"prompt_cache_options": {"mode": "explicit"}})
    'explicit'
    """
    options = request.get("prompt_cache_options")
    mode = options.get("mode") if isinstance(options, Mapping) else None
    return mode if mode in ("implicit", "explicit") else None


_A = TypeVar("_A", bound="OpenAICacheMethods")


class OpenAICacheMethods:
    """The cache methods both OpenAI adapters share (Chat Completions and Responses).

    A mixin: the adapter sets ``_cache`` (from ``check_cache_options``) and the
    option attributes named below in its ``__init__``; copies are made by
    calling the adapter's own class with its options changed.

    >>> from stableprefix import OpenAIResponsesAdapter
    >>> OpenAIResponsesAdapter(prompt_cache_key="fixed").cache_key("chat-42")
    'fixed'
    """

    __slots__ = ()
    _cache: CacheOptions
    model: str | None
    prompt_cache_key: str | None
    cache_key_buckets: int | None
    prompt_cache_mode: str | None

    def with_model(self: _A, model: str | None) -> _A:
        """A copy of this adapter for another model (its cache rules follow the model).

        ``build_request(..., model=...)`` uses it to set the model per request.

        Raises:
            ValueError: an option of this adapter does not fit ``model``.

        >>> from stableprefix import OpenAIAdapter
        >>> OpenAIAdapter(model="gpt-5.5").with_model("gpt-5.6-sol").cache_options.breakpoints
        True
        """
        if model == self.model:
            return self
        return type(self)(**{**vars_of(self), "model": model})

    def for_warmup(self: _A) -> _A:
        """The adapter a warm-up request is built with.

        On models with breakpoints it asks for explicit mode, so that only
        the shared prefix is written, not the warm-up's own instruction.

        >>> from stableprefix import OpenAIAdapter
        >>> OpenAIAdapter(model="gpt-5.6-sol").for_warmup().prompt_cache_mode
        'explicit'
        """
        if not self._cache.breakpoints or self.prompt_cache_mode == "explicit":
            return self
        return type(self)(**{**vars_of(self), "prompt_cache_mode": "explicit"})

    @property
    def cache_options(self) -> CacheOptions:
        """The prompt-cache rules and fields this adapter sends.

        >>> from stableprefix import OpenAIAdapter
        >>> OpenAIAdapter(model="gpt-5.6-terra").cache_options.breakpoints
        True
        """
        return self._cache

    def cache_key(self, conversation_key: str | None) -> str | None:
        """The ``prompt_cache_key`` to send for a conversation (``None``: none).

        >>> from stableprefix import OpenAIAdapter
        >>> OpenAIAdapter().cache_key("chat-42") is None
        True
        >>> OpenAIAdapter(cache_key_buckets=4).cache_key("chat-42")
        'sp-...-of-4'
        """
        return derive_cache_key(self.prompt_cache_key, self.cache_key_buckets, conversation_key)
