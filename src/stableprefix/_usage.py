"""What one request cost in cache terms: the shared currency of usage parsing,
the simulator and the benchmark report.

Adapters turn a provider response into a ``CacheUsage``; the simulator
predicts one per request. Both feed the same report, so simulated and live
runs are read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CacheUsage"]


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"CacheUsage.{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"CacheUsage.{name} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheUsage:
    """Input and output token counts of one request, split by cache outcome.

    Attributes:
        cache_read_tokens: input tokens served from the provider's cache.
        cache_write_tokens: input tokens written to the cache (all TTLs).
        cache_write_1h_tokens: the part of ``cache_write_tokens`` written with
            a one-hour TTL (Anthropic prices those higher).
        uncached_input_tokens: input tokens neither read nor written.
        output_tokens: generated tokens.

    >>> u = CacheUsage(cache_read_tokens=900, uncached_input_tokens=100)
    >>> u.input_tokens, round(u.hit_ratio, 2)
    (1000, 0.9)
    >>> (u + u).cache_read_tokens
    1800
    """

    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    uncached_input_tokens: int = 0
    output_tokens: int = 0

    def __post_init__(self) -> None:
        for name in (
            "cache_read_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "uncached_input_tokens",
            "output_tokens",
        ):
            _check_count(name, getattr(self, name))
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise ValueError(
                "CacheUsage.cache_write_1h_tokens cannot exceed cache_write_tokens "
                f"({self.cache_write_1h_tokens} > {self.cache_write_tokens})"
            )

    @property
    def input_tokens(self) -> int:
        """All prompt tokens: read + written + uncached."""
        return self.cache_read_tokens + self.cache_write_tokens + self.uncached_input_tokens

    @property
    def hit_ratio(self) -> float:
        """Share of prompt tokens read from the cache (0.0 for an empty prompt)."""
        total = self.input_tokens
        return self.cache_read_tokens / total if total else 0.0

    def __add__(self, other: CacheUsage) -> CacheUsage:
        if not isinstance(other, CacheUsage):
            return NotImplemented
        return CacheUsage(
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            uncached_input_tokens=self.uncached_input_tokens + other.uncached_input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )
