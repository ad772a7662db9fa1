"""Pick the cache model that matches a model name's provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..pricing import ModelPrices, get_prices
from ._anthropic import AnthropicCache
from ._automatic import GeminiCache, OpenAICache
from ._base import CacheModel
from ._local import RadixCache

__all__ = ["cache_for_model"]


def cache_for_model(
    model: str, *, table: Mapping[str, ModelPrices] | None = None, **options: Any
) -> CacheModel:
    """The simulator of ``model``'s provider, set up for that model.

    Args:
        model: a model name in the price table.
        table: price table to look it up in (default ``PRICES``).
        **options: passed to the cache model (e.g. ``machines=8``).

    Returns:
        An ``AnthropicCache``, ``OpenAICache`` or ``GeminiCache`` for the
        model; a ``RadixCache`` for a ``"local"`` entry.

    Raises:
        UnknownModelError: ``model`` is not in the table.
        TypeError: an option does not exist for that cache model.

    >>> cache_for_model("claude-haiku-4-5").min_tokens
    4096
    >>> type(cache_for_model("gpt-4.1", machines=4)).__name__
    'OpenAICache'
    """
    provider = get_prices(model, table).provider
    if provider == "anthropic":
        return AnthropicCache(model, table=table, **options)
    if provider == "openai":
        return OpenAICache(model, table=table, **options)
    if provider == "gemini":
        return GeminiCache(model, table=table, **options)
    return RadixCache(**options)
