"""Pick the cache model that matches a model name's provider.

The model registry says which provider a model belongs to; the provider
registry (``stableprefix.adapters.get_provider``) says which cache model
simulates that provider. A family with no registered provider (``"local"``
engines) gets the ideal token-level cache.
"""

from __future__ import annotations

from typing import Any

from .._errors import UnknownProviderError
from .._registry import get_provider
from ._automatic import OpenAICache
from ._base import CacheModel, ModelTable, model_rules
from ._breakpoints import OpenAIBreakpointCache
from ._local import RadixCache

__all__ = ["cache_for_model", "openai_cache"]


def openai_cache(
    model: str | None, *, table: ModelTable | None = None, **options: Any
) -> CacheModel:
    """OpenAI's cache model for ``model``: exact breakpoints from GPT-5.6, prefixes before.

    This is the cache model the provider registry names for the two OpenAI
    formats (Chat Completions and Responses).

    Raises:
        TypeError: an option does not exist for that cache model.

    >>> type(openai_cache("gpt-5.6")).__name__, type(openai_cache("gpt-4.1")).__name__
    ('OpenAIBreakpointCache', 'OpenAICache')
    """
    info = model_rules(model, table, "openai")
    if info is not None and info.cache_semantics == "openai-breakpoints":
        return OpenAIBreakpointCache(model, table=table, **options)
    return OpenAICache(model, table=table, **options)


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
    try:
        provider = get_provider(info.provider)
    except UnknownProviderError:  # local engines: the ideal cache
        return RadixCache(**options)
    cache: CacheModel = provider.make_cache(model, table=table, **options)
    return cache
