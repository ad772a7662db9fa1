"""Prices and prompt-cache minimums per model, and what a request costs.

Approach: one table of plain data (``PRICES``), one frozen ``ModelPrices``
record per model, and two pure functions: ``estimate_cost`` prices a
``CacheUsage`` with caching, ``estimate_uncached_cost`` prices the same
request as if nothing had been cached (every input token at the input
price), so a report can print what caching saved. The cache simulator reads
the per-model minimum cacheable prefix from the same table, so changing a
model's numbers here changes both the simulation and the bill.

Prices change; the table is meant to be edited or extended. Pass your own
mapping as ``table=`` (for example ``{**PRICES, "my-model": ModelPrices(...)}``)
wherever a lookup happens. Dated snapshot names (``gpt-4o-2024-08-06``,
``claude-sonnet-4-5-20250929``) resolve to their base entry.

Not modelled: Gemini's higher rate for prompts over 200k tokens, batch and
priority tiers, regional uplifts, and long-context surcharges.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ._errors import StablePrefixError
from ._usage import CacheUsage

__all__ = [
    "PRICES",
    "ModelPrices",
    "UnknownModelError",
    "estimate_cost",
    "estimate_savings",
    "estimate_uncached_cost",
    "get_prices",
]

_PROVIDERS = ("anthropic", "openai", "gemini", "local")
_PER_TOKEN = 1_000_000.0


class UnknownModelError(StablePrefixError, LookupError):
    """A model name is not in the price table.

    Attributes:
        model: the name that was looked up.
        known: the names the table does know, sorted.

    >>> try:
    ...     get_prices("gpt-0")
    ... except UnknownModelError as exc:
    ...     print(exc.model, "claude-sonnet-4-5" in exc.known)
    gpt-0 True
    """

    def __init__(self, model: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"no prices for model {model!r}; known models: {', '.join(known)}. "
            "Pass table={**PRICES, name: ModelPrices(...)} to add it"
        )
        self.model = model
        self.known = known


def _check_price(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"ModelPrices.{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"ModelPrices.{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrices:
    """Prices (USD per million tokens) and cache rules of one model.

    Attributes:
        provider: ``"anthropic"``, ``"openai"``, ``"gemini"`` or ``"local"``.
        min_cache_tokens: the shortest prefix the provider caches.
        input: uncached input tokens.
        cache_read: input tokens read from the cache.
        output: generated tokens.
        cache_write_5m: tokens written to the cache (Anthropic's 5-minute
            TTL; the only write price elsewhere). ``None``: writing costs
            nothing extra, written tokens are billed at ``input``.
        cache_write_1h: tokens written with a one-hour TTL; ``None`` falls
            back to ``cache_write_5m``.
        cache_storage_per_hour: explicit cache storage, USD per million
            tokens per hour (Gemini ``cachedContents``); informational.

    >>> p = ModelPrices(provider="openai", min_cache_tokens=1024,
    ...                 input=2.0, cache_read=0.5, output=8.0)
    >>> p.write_price("1h")
    2.0
    """

    provider: str
    min_cache_tokens: int
    input: float
    cache_read: float
    output: float
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    cache_storage_per_hour: float | None = None

    def __post_init__(self) -> None:
        if self.provider not in _PROVIDERS:
            raise ValueError(
                f"ModelPrices.provider must be one of {', '.join(_PROVIDERS)}, "
                f"got {self.provider!r}"
            )
        m = self.min_cache_tokens
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ValueError(f"ModelPrices.min_cache_tokens must be an int >= 0, got {m!r}")
        for name in ("input", "cache_read", "output"):
            _check_price(name, getattr(self, name))
        for name in ("cache_write_5m", "cache_write_1h", "cache_storage_per_hour"):
            _check_price(name, getattr(self, name), optional=True)

    @property
    def charges_writes(self) -> bool:
        """Whether cache writes carry their own price (a write premium).

        >>> get_prices("claude-haiku-4-5").charges_writes, get_prices("gpt-5").charges_writes
        (True, False)
        """
        return self.cache_write_5m is not None or self.cache_write_1h is not None

    def write_price(self, ttl: str = "5m") -> float:
        """USD per million tokens written with ``ttl`` (``"5m"`` or ``"1h"``).

        Args:
            ttl: the cache lifetime of the write.

        Returns:
            The write price; the input price when writes are not charged.

        Raises:
            ValueError: ``ttl`` is neither ``"5m"`` nor ``"1h"``.

        >>> get_prices("claude-sonnet-4-5").write_price("1h")
        6.0
        """
        if ttl not in ("5m", "1h"):
            raise ValueError(f"ttl must be '5m' or '1h', got {ttl!r}")
        five = self.cache_write_5m if self.cache_write_5m is not None else self.input
        if ttl == "1h" and self.cache_write_1h is not None:
            return self.cache_write_1h
        return five


def _anthropic(minimum: int, base: float, output: float) -> ModelPrices:
    # Anthropic prices every cache operation as a multiple of the base input
    # price: 5-minute writes 1.25x, 1-hour writes 2x, reads 0.1x.
    return ModelPrices(
        provider="anthropic",
        min_cache_tokens=minimum,
        input=base,
        cache_read=round(base * 0.1, 6),
        output=output,
        cache_write_5m=round(base * 1.25, 6),
        cache_write_1h=round(base * 2.0, 6),
    )


def _openai(base: float, read: float, output: float) -> ModelPrices:
    # OpenAI caches prompts of 1024 tokens or more and, for these models,
    # does not charge for writing the cache.
    return ModelPrices(
        provider="openai", min_cache_tokens=1024, input=base, cache_read=read, output=output
    )


# Sources, checked 2026-11: Anthropic "Prompt caching" documentation (price
# table and per-model minimum cacheable prompt length); OpenAI API pricing
# page and "Prompt caching" guide (1024-token minimum, no write fee before
# the GPT-5.6 family); Gemini API pricing page and "Context caching" page
# (implicit-cache minimums, page updated 2026-10-13; earlier versions listed
# 1024 for 2.5 Flash and 4096 for 2.5 Pro). Gemini prices are the <=200k
# token tier.
# Claude 4.6 and 5.x rows, checked 2026-11-22 against Anthropic's model pages
# (prices; the 1.25x / 2x / 0.1x cache multipliers are listed there too) and
# the caching page's minimum table (Sonnet 4.6: 1024, Opus 4.6: 4096; Opus 5:
# 512). Sonnet 5.5's minimum is not published where we looked: 1024 as for
# Sonnet 5 is assumed (a too-low minimum only spends a marker that caches
# nothing; a too-high one would skip real caching).
_TABLE: dict[str, ModelPrices] = {
    "claude-sonnet-5-5": _anthropic(1024, 2.0, 10.0),
    "claude-opus-5": _anthropic(512, 5.0, 25.0),
    "claude-opus-4-6": _anthropic(4096, 5.0, 25.0),
    "claude-sonnet-4-6": _anthropic(1024, 3.0, 15.0),
    "claude-opus-4-5": _anthropic(4096, 5.0, 25.0),
    "claude-opus-4-1": _anthropic(1024, 15.0, 75.0),
    "claude-opus-4": _anthropic(1024, 15.0, 75.0),
    "claude-sonnet-4-5": _anthropic(1024, 3.0, 15.0),
    "claude-sonnet-4": _anthropic(1024, 3.0, 15.0),
    "claude-3-7-sonnet": _anthropic(1024, 3.0, 15.0),
    "claude-haiku-4-5": _anthropic(4096, 1.0, 5.0),
    "claude-3-5-haiku": _anthropic(2048, 0.8, 4.0),
    "claude-3-haiku": _anthropic(2048, 0.25, 1.25),
    "gpt-5": _openai(1.25, 0.125, 10.0),
    "gpt-5-mini": _openai(0.25, 0.025, 2.0),
    "gpt-4.1": _openai(2.0, 0.5, 8.0),
    "gpt-4o": _openai(2.5, 1.25, 10.0),
    "gpt-4o-mini": _openai(0.15, 0.075, 0.6),
    "gemini-2.5-pro": ModelPrices(
        provider="gemini",
        min_cache_tokens=2048,
        input=1.25,
        cache_read=0.125,
        output=10.0,
        cache_storage_per_hour=4.5,
    ),
    "gemini-2.5-flash": ModelPrices(
        provider="gemini",
        min_cache_tokens=2048,
        input=0.30,
        cache_read=0.03,
        output=2.5,
        cache_storage_per_hour=1.0,
    ),
}

#: The built-in price table, read-only; copy it into a dict to change it.
PRICES: Mapping[str, ModelPrices] = MappingProxyType(_TABLE)

# A dated snapshot suffix: -2024-08-06 (OpenAI) or -20250929 (Anthropic).
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


def get_prices(model: str, table: Mapping[str, ModelPrices] | None = None) -> ModelPrices:
    """Look a model up in a price table.

    Args:
        model: the model name as sent to the provider; a dated snapshot
            name (``gpt-4o-2024-08-06``) resolves to its base entry.
        table: the table to use (default ``PRICES``).

    Returns:
        The model's ``ModelPrices``.

    Raises:
        TypeError: ``model`` is not a string.
        UnknownModelError: the name is not in the table (the error lists
            the names that are).

    >>> get_prices("claude-sonnet-4-5-20250929").min_cache_tokens
    1024
    >>> get_prices("gpt-4o-mini-2024-07-18").input
    0.15
    """
    if not isinstance(model, str):
        raise TypeError(f"model must be a str, got {type(model).__name__}")
    prices = PRICES if table is None else table
    found = prices.get(model)
    if found is None:
        found = prices.get(_DATED.sub("", model))
    if found is None:
        raise UnknownModelError(model, tuple(sorted(prices)))
    return found


def _check_usage(usage: object) -> None:
    if not isinstance(usage, CacheUsage):
        raise TypeError(f"usage must be a CacheUsage, got {type(usage).__name__}")


def estimate_cost(usage: CacheUsage, prices: ModelPrices) -> float:
    """What one request (or a sum of requests) costs with caching, in USD.

    Reads are billed at ``cache_read``, writes at the write price of their
    TTL (the input price where writes are free), the rest of the input at
    ``input``, and output at ``output``.

    Args:
        usage: the request's token counts.
        prices: the model's prices.

    Returns:
        The cost in US dollars.

    Raises:
        TypeError: ``usage`` or ``prices`` has the wrong type.

    >>> u = CacheUsage(cache_read_tokens=9000, uncached_input_tokens=1000, output_tokens=100)
    >>> round(estimate_cost(u, get_prices("claude-sonnet-4-5")), 6)
    0.0072
    """
    _check_usage(usage)
    if not isinstance(prices, ModelPrices):
        raise TypeError(f"prices must be ModelPrices, got {type(prices).__name__}")
    write_5m = usage.cache_write_tokens - usage.cache_write_1h_tokens
    micro = (
        usage.cache_read_tokens * prices.cache_read
        + write_5m * prices.write_price("5m")
        + usage.cache_write_1h_tokens * prices.write_price("1h")
        + usage.uncached_input_tokens * prices.input
        + usage.output_tokens * prices.output
    )
    return micro / _PER_TOKEN


def estimate_uncached_cost(usage: CacheUsage, prices: ModelPrices) -> float:
    """What the same request would cost with no caching at all, in USD.

    Args:
        usage: the request's token counts.
        prices: the model's prices.

    Returns:
        The cost with every input token at the input price.

    Raises:
        TypeError: ``usage`` or ``prices`` has the wrong type.

    >>> u = CacheUsage(cache_read_tokens=9000, uncached_input_tokens=1000, output_tokens=100)
    >>> round(estimate_uncached_cost(u, get_prices("claude-sonnet-4-5")), 6)
    0.0315
    """
    _check_usage(usage)
    if not isinstance(prices, ModelPrices):
        raise TypeError(f"prices must be ModelPrices, got {type(prices).__name__}")
    return (usage.input_tokens * prices.input + usage.output_tokens * prices.output) / _PER_TOKEN


def estimate_savings(usage: CacheUsage, prices: ModelPrices) -> float:
    """USD saved by caching: uncached cost minus cached cost (negative if
    cache writes cost more than the reads saved).

    Args:
        usage: the request's token counts.
        prices: the model's prices.

    Returns:
        The difference in US dollars.

    Raises:
        TypeError: ``usage`` or ``prices`` has the wrong type.

    >>> miss = CacheUsage(cache_write_tokens=10_000)
    >>> estimate_savings(miss, get_prices("claude-sonnet-4-5")) < 0
    True
    """
    return estimate_uncached_cost(usage, prices) - estimate_cost(usage, prices)
