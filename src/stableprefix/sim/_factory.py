"""Pick the cache model that matches a model name's provider."""

from __future__ import annotations

from typing import Any

from ._anthropic import AnthropicCache
from ._automatic import GeminiCache, OpenAICache
from ._base import CacheModel, ModelTable, model_rules
from ._breakpoints import OpenAIBreakpointCache
from ._local import RadixCache

__all__ = ["cache_for_model"]


def cache_for_model(model: str, *, table: ModelTable | None = None, **options: Any) -> CacheModel:
    """The simulator of ``model``'s provider, set up for that model.

    Args:
        model: a model id; unknown ids get their family's rules.
        table: registry (or legacy price table) to look it up in.
        **options: passed to the cache model (e.g. ``machines=8``).

    Returns:
        An ``AnthropicCache``, ``OpenAIBreakpointCache`` (GPT-5.6 and later),
        ``OpenAICache`` (earlier OpenAI models) or ``GeminiCache`` for the
        model; a ``RadixCache`` for a ``"local"`` entry.

    Raises:
        UnknownModelError: ``model`` is in no family the registry knows.
        TypeError: an option does not exist for that cache model.

    >>> cache_for_model("claude-haiku-4-5").min_tokens
    4096
    >>> type(cache_for_model("gpt-4.1", machines=4)).__name__
    'OpenAICache'
    >>> type(cache_for_model("gpt-5.6-terra")).__name__
    'OpenAIBreakpointCache'
    """
    info = model_rules(model, table, "local")
    assert info is not None
    provider = info.provider
    if provider == "anthropic":
        return AnthropicCache(model, table=table, **options)
    if info.cache_semantics == "openai-breakpoints":
        return OpenAIBreakpointCache(model, table=table, **options)
    if provider == "openai":
        return OpenAICache(model, table=table, **options)
    if provider == "gemini":
        return GeminiCache(model, table=table, **options)
    return RadixCache(**options)
