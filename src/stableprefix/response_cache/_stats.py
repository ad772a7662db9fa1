"""Counters of what the response cache did and what it saved.

Approach: a hit saves the whole call it replaces, so the tokens and dollars
saved are those of the stored response's own usage (read with the adapters'
usage parsers) priced with the model registry. This is kept apart from the
prompt-cache savings ``CacheUsage`` reports, which are about cheaper input
on calls that were made.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from .._errors import StablePrefixError
from .._registry import get_provider
from .._usage import CacheUsage
from ..pricing import UnknownModelError, estimate_cost, get_prices

__all__ = ["ResponseCacheStats", "StatsCounter", "savings", "usage_summary"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCacheStats:
    """A snapshot of a response cache's counters.

    Attributes:
        hits: calls answered from the cache.
        semantic_hits: the part of ``hits`` answered by a similar question.
        misses: calls that went upstream (as leader of their key).
        coalesced: calls that waited for an identical call in flight in this
            process instead of making their own (a process that waited for
            another one's answer through a lease counts a hit: it read the
            stored answer).
        stored: answers written to the backend.
        not_stored: answers left out by policy (errors, truncated, refused,
            sampled, incomplete streams).
        backend_errors: backend failures that were failed open.
        event_errors: times the ``on_event`` callback raised (the calls went on).
        input_tokens_saved: input tokens of the calls hits replaced.
        output_tokens_saved: output tokens of the calls hits replaced.
        dollars_saved: their price by the model registry.
        unpriced_hits: hits whose model or usage was unknown (not in dollars_saved).

    >>> ResponseCacheStats().hit_rate
    0.0
    """

    hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    coalesced: int = 0
    stored: int = 0
    not_stored: int = 0
    backend_errors: int = 0
    event_errors: int = 0
    input_tokens_saved: int = 0
    output_tokens_saved: int = 0
    dollars_saved: float = 0.0
    unpriced_hits: int = 0

    @property
    def hit_rate(self) -> float:
        """Share of calls that made no upstream call (hits and coalesced)."""
        total = self.hits + self.misses + self.coalesced
        return (self.hits + self.coalesced) / total if total else 0.0


class StatsCounter:
    """Thread-safe accumulation of ``ResponseCacheStats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = ResponseCacheStats()

    def add(self, **deltas: float) -> None:
        """Add to named counters."""
        with self._lock:
            current = self._stats
            self._stats = replace(
                current, **{k: getattr(current, k) + v for k, v in deltas.items()}
            )

    def snapshot(self) -> ResponseCacheStats:
        """The counters now."""
        with self._lock:
            return self._stats

    def reset(self) -> None:
        """Back to zero."""
        with self._lock:
            self._stats = ResponseCacheStats()


FIELDS = tuple(f.name for f in fields(ResponseCacheStats))


def usage_summary(provider: str | None, body: Any) -> dict[str, int] | None:
    """The ``CacheUsage`` fields of a response read by ``parse_usage`` (``None``: unreadable).

    >>> usage_summary("openai", {"usage": {"prompt_tokens": 10, "completion_tokens": 2}})
    {'cache_read_tokens': 0, 'cache_write_tokens': 0, 'cache_write_1h_tokens': 0, \
'uncached_input_tokens': 10, 'output_tokens': 2}
    """
    if provider is None or body is None:
        return None
    try:
        usage = get_provider(provider).parse_usage(body)
    except (StablePrefixError, TypeError, ValueError):
        return None
    return {f.name: getattr(usage, f.name) for f in fields(CacheUsage)}


def savings(entry: Mapping[str, Any]) -> dict[str, float]:
    """The counters a hit on ``entry`` adds: tokens and dollars of the call it replaced.

    >>> savings({"model": "nobody-knows", "usage": None})
    {'unpriced_hits': 1}
    """
    usage, model = entry.get("usage"), entry.get("model")
    if not isinstance(usage, dict) or not isinstance(model, str):
        return {"unpriced_hits": 1}
    tokens = CacheUsage(**usage)
    out: dict[str, float] = {
        "input_tokens_saved": tokens.input_tokens,
        "output_tokens_saved": tokens.output_tokens,
    }
    try:
        out["dollars_saved"] = estimate_cost(tokens, get_prices(model))
    except UnknownModelError:
        out["unpriced_hits"] = 1
    return out
