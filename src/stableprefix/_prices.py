"""Price records: what one model charges per million tokens.

Approach: ``ModelPrices`` is a frozen record of plain numbers, one per model,
built by the model registry (``stableprefix.models``) from its data table or
by a user directly. Cache prices are stored as prices, not multipliers, so a
published price that does not follow a multiplier (a rounded one) can be
kept as published; the multipliers are derived when asked for. A provider's
higher rates for long prompts are ``LongContextTier`` rows that replace the
base prices for a whole request above a prompt length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["LongContextTier", "ModelPrices"]

_PROVIDERS = ("anthropic", "openai", "gemini", "local")
# The default-TTL write and the long-TTL write of each provider's names.
_SHORT_TTLS = ("5m", "30m")
_LONG_TTLS = ("1h", "12h")


def _check_price(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}.{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner}.{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LongContextTier:
    """Prices that replace the base prices for a request with a long prompt.

    Attributes:
        above_tokens: the tier applies when the prompt (read + written +
            uncached input tokens) exceeds this many tokens.
        input, cache_read, output: USD per million tokens in the tier.
        cache_write_5m, cache_write_1h: write prices in the tier (``None``:
            writes cost ``input``; see ``ModelPrices``).

    >>> LongContextTier(above_tokens=100_000, input=0.5, cache_read=0.05, output=2.5).input
    0.5
    """

    above_tokens: int
    input: float
    cache_read: float
    output: float
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None

    def __post_init__(self) -> None:
        a = self.above_tokens
        if isinstance(a, bool) or not isinstance(a, int) or a < 0:
            raise ValueError(f"LongContextTier.above_tokens must be an int >= 0, got {a!r}")
        for name in ("input", "cache_read", "output"):
            _check_price("LongContextTier", name, getattr(self, name))
        for name in ("cache_write_5m", "cache_write_1h"):
            _check_price("LongContextTier", name, getattr(self, name), optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrices:
    """Prices (USD per million tokens) and cache minimum of one model.

    Attributes:
        provider: ``"anthropic"``, ``"openai"``, ``"gemini"`` or ``"local"``.
        min_cache_tokens: the shortest prefix the provider caches.
        input: uncached input tokens.
        cache_read: input tokens read from the cache.
        output: generated tokens.
        cache_write_5m: tokens written with the default TTL (Anthropic's
            5 minutes, OpenAI GPT-5.6+'s 30 minutes). ``None``: writing costs
            nothing extra, written tokens are billed at ``input``.
        cache_write_1h: tokens written with the long TTL (Anthropic's 1 hour,
            OpenAI's 12 hours); ``None`` falls back to ``cache_write_5m``.
        cache_storage_per_hour: explicit cache storage, USD per million
            tokens per hour (Gemini ``cachedContents``); informational.
        long_context: higher prices for long prompts, lowest threshold first.

    >>> p = ModelPrices(provider="openai", min_cache_tokens=1024,
    ...                 input=2.0, cache_read=0.5, output=8.0)
    >>> p.write_price("1h"), p.read_multiplier
    (2.0, 0.25)
    """

    provider: str
    min_cache_tokens: int
    input: float
    cache_read: float
    output: float
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    cache_storage_per_hour: float | None = None
    long_context: tuple[LongContextTier, ...] = field(default_factory=tuple)

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
            _check_price("ModelPrices", name, getattr(self, name))
        for name in ("cache_write_5m", "cache_write_1h", "cache_storage_per_hour"):
            _check_price("ModelPrices", name, getattr(self, name), optional=True)
        tiers = self.long_context
        if not isinstance(tiers, tuple) or not all(isinstance(t, LongContextTier) for t in tiers):
            raise TypeError("ModelPrices.long_context must be a tuple of LongContextTier")
        bounds = [t.above_tokens for t in tiers]
        if bounds != sorted(set(bounds)):
            raise ValueError(
                f"ModelPrices.long_context must list tiers by increasing above_tokens, got {bounds}"
            )

    @property
    def charges_writes(self) -> bool:
        """Whether cache writes carry their own price (a write premium).

        >>> ModelPrices(provider="gemini", min_cache_tokens=0, input=1.0,
        ...             cache_read=0.1, output=2.0).charges_writes
        False
        """
        return self.cache_write_5m is not None or self.cache_write_1h is not None

    @property
    def read_multiplier(self) -> float:
        """The cache-read price as a multiple of the input price (0.0 if input is free).

        >>> ModelPrices(provider="anthropic", min_cache_tokens=512, input=2.0,
        ...             cache_read=0.1, output=10.0).read_multiplier
        0.05
        """
        return round(self.cache_read / self.input, 6) if self.input else 0.0

    def write_price(self, ttl: str = "5m") -> float:
        """USD per million tokens written with ``ttl``.

        Args:
            ttl: ``"5m"`` or ``"30m"`` (the default-TTL write), ``"1h"`` or
                ``"12h"`` (the long-TTL write).

        Returns:
            The write price; the input price when writes are not charged.

        Raises:
            ValueError: ``ttl`` is none of those.

        >>> ModelPrices(provider="anthropic", min_cache_tokens=1024, input=3.0,
        ...             cache_read=0.3, output=15.0, cache_write_5m=3.75,
        ...             cache_write_1h=6.0).write_price("1h")
        6.0
        """
        if ttl not in _SHORT_TTLS + _LONG_TTLS:
            raise ValueError(f"ttl must be one of '5m', '30m', '1h', '12h', got {ttl!r}")
        short = self.cache_write_5m if self.cache_write_5m is not None else self.input
        if ttl in _LONG_TTLS and self.cache_write_1h is not None:
            return self.cache_write_1h
        return short

    def write_multiplier(self, ttl: str = "5m") -> float:
        """The write price of ``ttl`` as a multiple of the input price.

        Args:
            ttl: as for ``write_price``.

        Returns:
            The multiplier (1.0 where writes cost the input price).

        Raises:
            ValueError: an unknown ``ttl``.

        >>> ModelPrices(provider="openai", min_cache_tokens=1024, input=2.0,
        ...             cache_read=0.2, output=12.0, cache_write_5m=2.5).write_multiplier("30m")
        1.25
        """
        price = self.write_price(ttl)
        return round(price / self.input, 6) if self.input else 1.0

    def for_prompt(self, prompt_tokens: int) -> ModelPrices:
        """The prices that apply to one request with a prompt this long.

        Args:
            prompt_tokens: read + written + uncached input tokens of the request.

        Returns:
            This record, or the highest long-context tier the prompt exceeds
            as a record of its own (without tiers).

        Raises:
            ValueError: ``prompt_tokens`` is not an int >= 0.

        >>> tier = LongContextTier(above_tokens=100, input=2.0, cache_read=0.2, output=8.0)
        >>> p = ModelPrices(provider="openai", min_cache_tokens=0, input=1.0,
        ...                 cache_read=0.1, output=4.0, long_context=(tier,))
        >>> p.for_prompt(100).input, p.for_prompt(101).input
        (1.0, 2.0)
        """
        if (
            isinstance(prompt_tokens, bool)
            or not isinstance(prompt_tokens, int)
            or prompt_tokens < 0
        ):
            raise ValueError(f"prompt_tokens must be an int >= 0, got {prompt_tokens!r}")
        chosen: LongContextTier | None = None
        for tier in self.long_context:
            if prompt_tokens > tier.above_tokens:
                chosen = tier
        if chosen is None:
            return self
        return ModelPrices(
            provider=self.provider,
            min_cache_tokens=self.min_cache_tokens,
            input=chosen.input,
            cache_read=chosen.cache_read,
            output=chosen.output,
            cache_write_5m=chosen.cache_write_5m,
            cache_write_1h=chosen.cache_write_1h,
            cache_storage_per_hour=self.cache_storage_per_hour,
        )
