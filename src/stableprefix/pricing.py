"""Prices per model, and what a request costs.

Approach: prices come from the model registry (``stableprefix.models``),
where every row is data with its source and date; ``PRICES`` is the read-only
view of the registry's priced models as ``ModelPrices`` records. Two pure
functions price a ``CacheUsage``: ``estimate_cost`` with caching,
``estimate_uncached_cost`` as if nothing had been cached (every input token
at the input price), so a report can print what caching saved. The cache
simulator reads the per-model minimum and cache rules from the same
registry, so changing a model's numbers there changes both the simulation
and the bill.

A model whose prices rise for long prompts (Claude Haiku 5.5 above 100k
tokens, GPT-5.6 above 272k, Gemini 2.5 Pro above 200k) carries
``long_context`` tiers; ``estimate_cost`` picks the tier from the usage's
own prompt length, so price requests one at a time and add the costs
rather than pricing a sum of usages.

Pass your own mapping as ``table=`` (for example
``{**PRICES, "my-model": ModelPrices(...)}``) wherever a lookup happens.
Aliases, dated snapshot names (``gpt-4o-2024-08-06``,
``claude-sonnet-4-5-20250929``), ``-latest`` and provider prefixes resolve
to their base entry. An id the registry does not know has cache rules (its
family's) but no price: ``get_prices`` raises ``UnknownModelError``.

Not modelled: batch and priority tiers, regional uplifts, data-residency
multipliers.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import models as _models
from ._errors import UnknownModelError
from ._prices import LongContextTier, ModelPrices
from ._usage import CacheUsage

__all__ = [
    "PRICES",
    "LongContextTier",
    "ModelPrices",
    "UnknownModelError",
    "estimate_cost",
    "estimate_savings",
    "estimate_uncached_cost",
    "get_prices",
]

_PER_TOKEN = 1_000_000.0

#: The registry's priced models, read-only; copy it into a dict to change it.
PRICES: Mapping[str, ModelPrices] = MappingProxyType(
    {name: info.prices for name, info in _models.MODELS.items() if info.prices is not None}
)


def _from_price_table(model: str, table: Mapping[str, ModelPrices]) -> ModelPrices:
    found = table.get(model)
    if found is None:
        found = table.get(_models.canonical_model_name(model)[0])
    if found is None:
        raise UnknownModelError(
            model, tuple(sorted(table)), reason=f"no prices for model {model!r}"
        )
    return found


def get_prices(
    model: str,
    table: Mapping[str, ModelPrices] | Mapping[str, _models.ModelInfo] | None = None,
) -> ModelPrices:
    """Look a model's prices up.

    Args:
        model: the model id as sent to the provider; aliases, dated
            snapshot names, ``-latest`` and provider prefixes resolve.
        table: a price table (``{name: ModelPrices}``) or a registry
            (``{name: ModelInfo}``); default: the built-in registry.

    Returns:
        The model's ``ModelPrices``.

    Raises:
        TypeError: ``model`` is not a string.
        UnknownModelError: the model has no published price in the table
            (the error lists the names that do).

    >>> get_prices("claude-sonnet-4-5-20250929").min_cache_tokens
    1024
    >>> get_prices("gpt-4o-mini-2024-07-18").input
    0.15
    >>> get_prices("claude-sonnet-5-5").cache_read
    0.1
    """
    if not isinstance(model, str):
        raise TypeError(f"model must be a str, got {type(model).__name__}")
    if table is not None and all(isinstance(v, ModelPrices) for v in table.values()):
        return _from_price_table(model, table)  # type: ignore[arg-type]
    registry: Mapping[str, _models.ModelInfo] = (
        _models.MODELS if table is None else table  # type: ignore[assignment]
    )
    info = _models.get_model(model, registry)
    if info.prices is None:
        priced = tuple(sorted(n for n, i in registry.items() if i.prices is not None))
        why = (
            f"no published price for model {model!r}"
            if info.exact
            else f"no prices for model {model!r} (unknown id; its cache rules fall back "
            f"to the {info.family} family)"
        )
        raise UnknownModelError(model, priced, reason=why)
    return info.prices


def _check_usage(usage: object) -> None:
    if not isinstance(usage, CacheUsage):
        raise TypeError(f"usage must be a CacheUsage, got {type(usage).__name__}")


def estimate_cost(usage: CacheUsage, prices: ModelPrices) -> float:
    """What one request (or a sum of requests) costs with caching, in USD.

    Reads are billed at ``cache_read``, writes at the write price of their
    TTL (the input price where writes are free), the rest of the input at
    ``input``, and output at ``output``, all at the long-context tier the
    usage's prompt length falls in (if the model has tiers).

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
    prices = prices.for_prompt(usage.input_tokens)
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
    prices = prices.for_prompt(usage.input_tokens)
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
