"""Read a provider's usage report into a ``CacheUsage``.

Each adapter points its ``parse_usage`` at one of these parsers (the
registry reaches them through the adapter: ``get_provider(name).parse_usage``).

Approach: every parser takes either a whole response or just its usage part,
as an SDK object (attribute access) or as plain JSON (a dict), and reads a
few named fields from it. The providers split the prompt differently, and
each parser maps its split onto ours (read / written / uncached):

- Anthropic: ``input_tokens`` is only the part after the last cache marker;
  ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` come on
  top, the latter split by TTL in ``cache_creation``.
- OpenAI chat and Responses: ``prompt_tokens`` / ``input_tokens`` count the
  whole prompt; ``cached_tokens`` (and, on models with explicit cache
  writes, ``cache_write_tokens``) are parts of it. Servers that speak the
  chat format (llama.cpp, vLLM) may leave the details out: 0 cached.
- Gemini: ``prompt_token_count`` counts the whole prompt including
  ``cached_content_token_count``; tool-use prompts are extra input, thoughts
  are extra output. Zero counts are often left out of the JSON.

A missing required field, a count that is not a non-negative int, or parts
that exceed their whole raise ``UsageError`` naming the field; a value that
is neither a mapping nor an object raises ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import UsageError
from .._usage import CacheUsage

__all__ = [
    "anthropic_usage",
    "gemini_usage",
    "openai_chat_usage",
    "openai_responses_usage",
]

_MISSING = object()


def _get(obj: Any, name: str) -> Any:
    """A field of a mapping or an attribute of an object (``_MISSING`` if absent)."""
    if isinstance(obj, Mapping):
        return obj.get(name, _MISSING)
    return getattr(obj, name, _MISSING)


def _check_container(obj: Any, provider: str) -> None:
    if isinstance(obj, (str, bytes, int, float, list, tuple)) or obj is None:
        raise TypeError(
            f"{provider} usage must be a response or its usage part (an SDK object or a "
            f"dict), got {type(obj).__name__}"
        )


def _usage_part(obj: Any, provider: str, key: str, marker: str) -> tuple[Any, str]:
    """The usage object inside ``obj`` (or ``obj`` itself), and its path."""
    _check_container(obj, provider)
    if _get(obj, marker) not in (_MISSING, None):
        return obj, key
    inner = _get(obj, key)
    if inner in (_MISSING, None):
        raise UsageError(
            f"not found: pass the response or its usage part (which has {marker!r}); "
            "a streamed response reports usage only in its final event",
            provider=provider,
            field=key,
        )
    _check_container(inner, provider)
    return inner, key


def _count(obj: Any, name: str, provider: str, path: str, *, required: bool = False) -> int:
    value = _get(obj, name) if obj not in (_MISSING, None) else _MISSING
    if value is _MISSING or value is None:
        if required:
            raise UsageError("is missing", provider=provider, field=f"{path}.{name}")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(
            f"must be an int, got {type(value).__name__}", provider=provider, field=f"{path}.{name}"
        )
    if value < 0:
        raise UsageError(f"must be >= 0, got {value}", provider=provider, field=f"{path}.{name}")
    return value


def _rest(total: int, parts: int, provider: str, field: str, detail: str) -> int:
    if parts > total:
        raise UsageError(
            f"is {total}, less than {detail} ({parts})", provider=provider, field=field
        )
    return total - parts


def anthropic_usage(response: Any) -> CacheUsage:
    """Usage of an Anthropic Messages response (also llama.cpp's ``/v1/messages``).

    Args:
        response: a ``Message``, its ``usage``, or the same as JSON.

    Returns:
        The request's ``CacheUsage``; the one-hour part of the cache writes
        comes from ``cache_creation.ephemeral_1h_input_tokens``.

    Raises:
        UsageError: ``input_tokens`` or ``output_tokens`` is missing, or a
            count is invalid.
        TypeError: ``response`` is neither a mapping nor an object.

    >>> u = anthropic_usage({"usage": {"input_tokens": 20, "output_tokens": 5,
    ...     "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 300,
    ...     "cache_creation": {"ephemeral_5m_input_tokens": 100,
    ...                        "ephemeral_1h_input_tokens": 200}}})
    >>> u.cache_read_tokens, u.cache_write_tokens, u.cache_write_1h_tokens, u.input_tokens
    (1000, 300, 200, 1320)
    """
    p = "anthropic"
    usage, path = _usage_part(response, p, "usage", "input_tokens")
    written = _count(usage, "cache_creation_input_tokens", p, path)
    breakdown = _get(usage, "cache_creation")
    one_hour = 0
    if breakdown not in (_MISSING, None):
        bpath = path + ".cache_creation"
        one_hour = _count(breakdown, "ephemeral_1h_input_tokens", p, bpath)
        five_min = _count(breakdown, "ephemeral_5m_input_tokens", p, bpath)
        if _get(usage, "cache_creation_input_tokens") in (_MISSING, None):
            written = one_hour + five_min
        _rest(written, one_hour, p, path + ".cache_creation_input_tokens", "its 1h part")
    return CacheUsage(
        cache_read_tokens=_count(usage, "cache_read_input_tokens", p, path),
        cache_write_tokens=written,
        cache_write_1h_tokens=one_hour,
        uncached_input_tokens=_count(usage, "input_tokens", p, path, required=True),
        output_tokens=_count(usage, "output_tokens", p, path, required=True),
    )


def _openai_like(
    response: Any, provider: str, total_name: str, details_name: str, output_name: str
) -> CacheUsage:
    usage, path = _usage_part(response, provider, "usage", total_name)
    total = _count(usage, total_name, provider, path, required=True)
    details = _get(usage, details_name)
    dpath = f"{path}.{details_name}"
    cached = _count(details, "cached_tokens", provider, dpath)
    written = _count(details, "cache_write_tokens", provider, dpath)
    uncached = _rest(
        total, cached + written, provider, f"{path}.{total_name}", "cached + cache_write tokens"
    )
    return CacheUsage(
        cache_read_tokens=cached,
        cache_write_tokens=written,
        uncached_input_tokens=uncached,
        output_tokens=_count(usage, output_name, provider, path, required=True),
    )


def openai_chat_usage(response: Any) -> CacheUsage:
    """Usage of a Chat Completions response (OpenAI, llama.cpp, vLLM, ...).

    Args:
        response: a ``ChatCompletion``, its ``usage``, or the same as JSON.
            Missing ``prompt_tokens_details`` means nothing was cached.

    Returns:
        The request's ``CacheUsage`` (reasoning tokens are part of the output).

    Raises:
        UsageError: ``prompt_tokens`` or ``completion_tokens`` is missing, a
            count is invalid, or cached tokens exceed the prompt.
        TypeError: ``response`` is neither a mapping nor an object.

    >>> u = openai_chat_usage({"prompt_tokens": 2006, "completion_tokens": 300,
    ...     "prompt_tokens_details": {"cached_tokens": 1920}})
    >>> u.cache_read_tokens, u.uncached_input_tokens, u.output_tokens
    (1920, 86, 300)
    >>> openai_chat_usage({"prompt_tokens": 50, "completion_tokens": 2}).cache_read_tokens
    0
    """
    return _openai_like(
        response, "openai", "prompt_tokens", "prompt_tokens_details", "completion_tokens"
    )


def openai_responses_usage(response: Any) -> CacheUsage:
    """Usage of an OpenAI Responses API response.

    Args:
        response: a ``Response``, its ``usage``, or the same as JSON.

    Returns:
        The request's ``CacheUsage`` (reasoning tokens are part of the output).

    Raises:
        UsageError: ``input_tokens`` or ``output_tokens`` is missing, a count
            is invalid, or cached tokens exceed the input.
        TypeError: ``response`` is neither a mapping nor an object.

    >>> u = openai_responses_usage({"usage": {"input_tokens": 1500, "output_tokens": 40,
    ...     "input_tokens_details": {"cached_tokens": 1408}}})
    >>> u.cache_read_tokens, u.uncached_input_tokens
    (1408, 92)
    """
    return _openai_like(
        response, "openai_responses", "input_tokens", "input_tokens_details", "output_tokens"
    )


def gemini_usage(response: Any) -> CacheUsage:
    """Usage of a Gemini ``generate_content`` response.

    Args:
        response: a ``GenerateContentResponse``, its ``usage_metadata``, or
            the REST JSON (``usageMetadata`` with camelCase fields) or its
            snake_case dict form.

    Returns:
        The request's ``CacheUsage``: thoughts count as output, tool-use
        prompt tokens as uncached input.

    Raises:
        UsageError: ``prompt_token_count`` is missing, a count is invalid, or
            cached tokens exceed the prompt.
        TypeError: ``response`` is neither a mapping nor an object.

    >>> u = gemini_usage({"usageMetadata": {"promptTokenCount": 5000,
    ...     "cachedContentTokenCount": 4096, "candidatesTokenCount": 30,
    ...     "thoughtsTokenCount": 70}})
    >>> u.cache_read_tokens, u.uncached_input_tokens, u.output_tokens
    (4096, 904, 100)
    """
    p = "gemini"
    camel = _get(response, "usageMetadata") not in (_MISSING, None) or (
        _get(response, "promptTokenCount") not in (_MISSING, None)
    )
    names = _GEMINI_CAMEL if camel else _GEMINI_SNAKE
    usage, path = _usage_part(response, p, names["usage"], names["prompt"])

    def count(key: str, required: bool = False) -> int:
        return _count(usage, names[key], p, path, required=required)

    prompt = count("prompt", required=True)
    cached = count("cached")
    fresh = _rest(prompt, cached, p, f"{path}.{names['prompt']}", "the cached tokens")
    return CacheUsage(
        cache_read_tokens=cached,
        uncached_input_tokens=fresh + count("tool_use"),
        output_tokens=count("candidates") + count("thoughts"),
    )


_GEMINI_SNAKE = {
    "usage": "usage_metadata",
    "prompt": "prompt_token_count",
    "cached": "cached_content_token_count",
    "candidates": "candidates_token_count",
    "thoughts": "thoughts_token_count",
    "tool_use": "tool_use_prompt_token_count",
}
_GEMINI_CAMEL = {
    "usage": "usageMetadata",
    "prompt": "promptTokenCount",
    "cached": "cachedContentTokenCount",
    "candidates": "candidatesTokenCount",
    "thoughts": "thoughtsTokenCount",
    "tool_use": "toolUsePromptTokenCount",
}
