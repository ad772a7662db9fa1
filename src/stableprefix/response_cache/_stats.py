"""Counters of what the response cache did and what it saved.

Approach: a hit saves the whole call it replaces, so the tokens and dollars
saved are those of the stored response's own usage (read with the adapters'
usage parsers) priced with the model registry. This is kept apart from the
prompt-cache savings ``CacheUsage`` reports, which are about cheaper input
on calls that were made.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace

__all__ = ["ResponseCacheStats", "StatsCounter"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCacheStats:
    """A snapshot of a response cache's counters.

    Attributes:
        hits: calls answered from the cache.
        semantic_hits: the part of ``hits`` answered by a similar question.
        misses: calls that went upstream (as leader of their key).
        coalesced: calls that waited for an identical call in flight instead of
            making their own.
        stored: answers written to the backend.
        not_stored: answers left out by policy (errors, truncated, refused,
            sampled, incomplete streams).
        backend_errors: backend failures that were failed open.
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
