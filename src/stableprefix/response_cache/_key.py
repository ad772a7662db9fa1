"""Response-cache keys: canonical JSON of what can change the answer.

Approach: a request is first turned into plain JSON (SDK objects through
their ``model_dump``; tuples become lists; integral floats become ints, so
``temperature=1`` and ``temperature=1.0`` agree), with every field that
cannot change the model's output removed, at any depth for the cache
markers and at the top level for the rest. The key is the SHA-256 of the
canonical text (sorted keys, no white space) of that document together
with a format version, the cache's namespace and the endpoint (the same
keyword arguments sent to two APIs are two requests).

What is left out of the key, and why (``EXCLUDED_FIELDS`` and
``EXCLUDED_ANYWHERE``):

- prompt-cache controls: ``cache_control``, ``prompt_cache_breakpoint`` (at
  any depth), ``prompt_cache_key``, ``prompt_cache_retention``,
  ``prompt_cache_options``: they decide what the provider caches, not what
  it answers; likewise Anthropic's ``diagnostics`` (which earlier response
  to compare the cache with);
- bookkeeping: ``metadata``, ``user``, ``safety_identifier``, ``store``:
  tags and retention of the request on the provider side;
- transport: ``stream``, ``stream_options``, ``timeout``, ``max_retries``,
  ``extra_headers``, ``extra_query``, ``http_options``: a streamed and a
  plain call produce the same answer, and a stored answer replays as either.

Everything else counts: model, messages, system, tools and tool choice,
sampling (temperature, top_p, top_k, seed, penalties, ``n``), output
settings (max tokens, stop sequences, response format, reasoning effort,
thinking) and any provider-specific option, including ones this module has
never heard of. ``extra_body`` is merged into the request first, because
the SDKs send its fields at the top level.

For a request built by a ``PromptManager``, ``turn_key`` derives the key
from the manager's prefix fingerprint (a hash chain kept up to date as
history grows) plus the turn in progress and the dynamic context, so it
costs O(recent) instead of O(history).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import RequestKeyError
from .._manager import PromptManager

__all__ = [
    "EXCLUDED_ANYWHERE",
    "EXCLUDED_FIELDS",
    "KEY_VERSION",
    "KeyExplanation",
    "canonical_request",
    "request_key",
    "turn_key",
]

KEY_VERSION = 1

EXCLUDED_FIELDS: frozenset[str] = frozenset(
    {
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "diagnostics",
        "metadata",
        "user",
        "safety_identifier",
        "store",
        "stream",
        "stream_options",
        "timeout",
        "max_retries",
        "extra_headers",
        "extra_query",
        "http_options",
    }
)
"""Top-level request fields that never change the answer."""

EXCLUDED_ANYWHERE: frozenset[str] = frozenset({"cache_control", "prompt_cache_breakpoint"})
"""Fields removed at any depth (cache markers on blocks, tools and messages)."""

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyExplanation:
    """What went into a response-cache key.

    Attributes:
        key: the key (64 hex digits).
        namespace: the cache's namespace (tenant), part of every key.
        endpoint: the API the request is for (``"openai.chat"``, ...).
        document: the canonical request that was hashed.
        excluded: JSON paths of the fields left out, e.g. ``$.messages[0].cache_control``.
    """

    key: str
    namespace: str
    endpoint: str
    document: dict[str, Any]
    excluded: tuple[str, ...]


def _plain(value: Any, path: str, dropped: list[str], top: bool) -> Any:
    """Plain-JSON copy of ``value`` without the excluded fields."""
    kind = type(value)
    if kind is str or value is None or kind is bool or kind is int:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise RequestKeyError(
                f"number {value!r} is not finite and cannot be part of a request", path=path
            )
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, Mapping):
        return _plain_mapping(value, path, dropped, top)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]", dropped, False) for i, v in enumerate(value)]
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # an SDK (pydantic) object passed back in, e.g. a message
        return _plain(dump(mode="json", exclude_none=True), path, dropped, top)
    if isinstance(value, (bool, int, float, str)):  # subclasses (enums, numpy scalars...)
        base = next(t for t in (bool, int, float, str) if isinstance(value, t))
        return _plain(base(value), path, dropped, top)
    raise RequestKeyError(
        f"{type(value).__name__} is not JSON; pass plain dicts, lists, strings, numbers, "
        "booleans, None or SDK objects",
        path=path,
    )


def _plain_mapping(value: Mapping[Any, Any], path: str, dropped: list[str], top: bool) -> Any:
    out: dict[str, Any] = {}
    items = dict(value)
    if top and isinstance(items.get("extra_body"), Mapping):
        extra = items.pop("extra_body")
        items = {**items, **extra}
    for key, item in items.items():
        if not isinstance(key, str):
            raise RequestKeyError(f"object key {key!r} is not a string", path=path)
        here = f"{path}.{key}"
        if key in EXCLUDED_ANYWHERE or (top and key in EXCLUDED_FIELDS):
            dropped.append(here)
            continue
        # google-genai carries its transport options inside ``config``.
        out[key] = _plain(item, here, dropped, top and key == "config")
    return out


def canonical_request(request: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The request as plain JSON without the excluded fields, and what was left out.

    Args:
        request: the SDK call's keyword arguments (a mapping).

    Returns:
        ``(document, excluded_paths)``.

    Raises:
        TypeError: ``request`` is not a mapping.
        RequestKeyError: a value cannot be serialised; ``path`` names it.

    >>> doc, dropped = canonical_request({"model": "m", "temperature": 1.0,
    ...     "messages": [{"role": "user", "content": "Hi",
    ...                   "cache_control": {"type": "ephemeral"}}], "metadata": {"a": 1}})
    >>> doc
    {'model': 'm', 'temperature': 1, 'messages': [{'role': 'user', 'content': 'Hi'}]}
    >>> dropped
    ('$.messages[0].cache_control', '$.metadata')
    """
    if not isinstance(request, Mapping):
        raise TypeError(f"a request must be a mapping of keyword arguments, got {type(request)}")
    dropped: list[str] = []
    document = _plain_mapping(request, "$", dropped, True)
    return document, tuple(sorted(dropped))


def hash_document(namespace: str, endpoint: str, document: Any) -> str:
    """SHA-256 of the canonical text of ``document`` under a namespace and endpoint."""
    head = _ENCODER.encode([KEY_VERSION, namespace, endpoint])
    body = _ENCODER.encode(document)
    return hashlib.sha256(f"{head}\n{body}".encode()).hexdigest()


def request_key(request: Any, *, namespace: str, endpoint: str = "any") -> KeyExplanation:
    """Compute the key of ``request`` and say what went into it.

    Args:
        request: the SDK call's keyword arguments.
        namespace: the tenant the entry belongs to (never shared across namespaces).
        endpoint: the API the request is sent to.

    Returns:
        A ``KeyExplanation``.

    Raises:
        TypeError: ``request`` is not a mapping.
        RequestKeyError: a value cannot be serialised.

    >>> a = request_key({"model": "m", "messages": [], "stream": True}, namespace="t1")
    >>> b = request_key({"messages": [], "model": "m"}, namespace="t1")
    >>> a.key == b.key, a.excluded
    (True, ('$.stream',))
    >>> request_key({"model": "m"}, namespace="t2").key == b.key
    False
    """
    document, dropped = canonical_request(request)
    return KeyExplanation(
        key=hash_document(namespace, endpoint, document),
        namespace=namespace,
        endpoint=endpoint,
        document=document,
        excluded=dropped,
    )


def turn_key(
    manager: PromptManager,
    settings: Mapping[str, Any],
    *,
    namespace: str,
    endpoint: str = "any",
    dynamic_system_prompt: str | None = None,
) -> KeyExplanation:
    """The key of the request ``manager.build_request(dynamic_system_prompt)`` plus ``settings``.

    The document hashed is the prefix fingerprint (tools, static prompt and
    the committed-history hash chain), the turn in progress, the dynamic
    context and the layout, plus ``settings`` (model, sampling and output
    options: everything you pass besides the built request). Its cost does
    not grow with the history. Call it after ``build_request`` (which may
    record the context in the turn) and send exactly that request.

    Args:
        manager: the conversation the request was built from.
        settings: the other keyword arguments of the SDK call.
        namespace: the tenant.
        endpoint: the API the request is sent to.
        dynamic_system_prompt: the context passed to ``build_request``.

    Returns:
        A ``KeyExplanation`` whose document holds the fingerprint, not the history.

    Raises:
        TypeError: ``manager`` is not a ``PromptManager``.
        RequestKeyError: a setting cannot be serialised.

    >>> from stableprefix import PromptConfig, PromptManager
    >>> pm = PromptManager(PromptConfig(static_system_prompt="Be brief."))
    >>> pm.append({"role": "user", "content": "Hi"})
    >>> k = turn_key(pm, {"model": "m"}, namespace="t")
    >>> sorted(k.document)
    ['context', 'dynamic', 'fingerprint', 'format', 'position', 'recent', 'settings']
    """
    if not isinstance(manager, PromptManager):
        raise TypeError(f"manager must be a PromptManager, got {type(manager).__name__}")
    dropped: list[str] = []
    plain_settings = _plain_mapping(settings, "$", dropped, True)
    config = manager.config
    # One lock hold so the fingerprint and the turn belong to the same state.
    with manager._lock:
        fingerprint = manager.fingerprint
        state = manager._state
        recent = _plain(state["recent"], "$.recent", dropped, False)
        context = state["context"]
    document = {
        "fingerprint": fingerprint,
        "format": config.adapter.name,
        "position": config.dynamic_position,
        "recent": recent,
        "context": context,
        "dynamic": dynamic_system_prompt,
        "settings": plain_settings,
    }
    return KeyExplanation(
        key=hash_document(namespace, "turn:" + endpoint, document),
        namespace=namespace,
        endpoint=endpoint,
        document=document,
        excluded=tuple(sorted(dropped)),
    )
