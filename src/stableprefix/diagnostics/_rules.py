"""The provider cache rules the diagnostics judge a request by.

Approach: a request's wire format and model pick one ``CacheRules`` record:
how entries are made (explicit markers, automatic prefixes, or GPT-5.6+
breakpoints), the minimum cacheable prefix, how long an entry lives, the hit
granularity and the prices. Minimums and prices come from the model
registry (``stableprefix.pricing``); a model missing from it still gets its
family's rules (prices then stay unknown and costs are not reported).

Minimums, semantics and prices come from ``stableprefix.models`` (sources
kept there). The timing rules used here (checked 2026-12-01):
- Anthropic, "Prompt caching" (platform.claude.com/docs/en/build-with-claude/
  prompt-caching): 5-minute default TTL, 1-hour option; 20-block lookback
  per breakpoint; an entry is readable only after the first response begins.
- OpenAI, "Prompt caching" (developers.openai.com/api/docs/guides/
  prompt-caching, copy of 2026-09-26): before GPT-5.6, automatic caching of
  prompts of 1,024+ tokens in 128-token steps, kept 5-10 minutes idle;
  GPT-5.6 and later cache exact prefixes at breakpoints only (implicit one at
  the latest user or tool message, explicit ``prompt_cache_breakpoint``), a
  1,024-token strict minimum and a 30-minute TTL.
- Google, "Context caching" (ai.google.dev/gemini-api/docs/caching, updated
  2026-07-07): no TTL is published for implicit caching; five minutes is
  assumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .._errors import DiagnosticsError, UnknownModelError, UnknownProviderError
from ..adapters._base import ProviderAdapter
from ..models import ModelInfo, get_model
from ..pricing import ModelPrices

__all__ = ["CacheRules", "resolve_adapter", "rules_for"]

#: Lookback window of an Anthropic breakpoint, in block positions.
ANTHROPIC_LOOKBACK = 20
#: GPT-5.6+: earlier message endings a request looks up besides its breakpoints.
BREAKPOINT_LOOKBACK = 20
_TTL_5M = 300.0
_TTL_1H = 3600.0
_TTL_GPT56 = 1800.0
_TTL_24H = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheRules:
    """How one provider and model cache a prompt.

    Attributes:
        provider: ``"anthropic"``, ``"openai"`` or ``"gemini"``.
        mode: ``"markers"`` (Anthropic ``cache_control``), ``"automatic"``
            (longest common prefix) or ``"breakpoints"`` (GPT-5.6+).
        min_tokens: the shortest prefix the provider caches.
        ttl_seconds: how long an unused entry lives by default.
        step: hit granularity in tokens (128 on OpenAI before GPT-5.6).
        prices: the model's prices, ``None`` when the model is not in the table.

    >>> rules_for("openai", "gpt-5").step
    128
    >>> rules_for("openai_responses", "gpt-5.6-terra").mode
    'breakpoints'
    """

    provider: str
    mode: str
    min_tokens: int
    ttl_seconds: float
    step: int = 1
    prices: ModelPrices | None = None


_MODES = {
    "anthropic": ("markers", 1),
    "openai-prefix": ("automatic", 128),
    "openai-breakpoints": ("breakpoints", 1),
    "gemini-implicit": ("automatic", 1),
    "local": ("automatic", 1),
}
_FORMAT_PROVIDER = {
    "anthropic": "anthropic",
    "openai": "openai",
    "openai_responses": "openai",
    "gemini": "gemini",
}
_FALLBACK_SEMANTICS = {
    "anthropic": "anthropic",
    "openai": "openai-prefix",
    "gemini": "gemini-implicit",
}
_FALLBACK_MIN = {"anthropic": 1024, "openai": 1024, "gemini": 2048}


def _ttl(semantics: str, retention: str | None) -> float:
    if semantics == "openai-breakpoints":
        return _TTL_GPT56
    if semantics == "openai-prefix" and retention == "24h":
        return _TTL_24H
    return _TTL_5M


def rules_for(
    format_name: str, model: str, *, table: Mapping[str, ModelInfo] | None = None
) -> CacheRules:
    """The cache rules of ``model`` called through the ``format_name`` wire format.

    The model registry (``stableprefix.models``) gives the minimum, the cache
    semantics and the prices; an id it cannot place gets the format's
    provider defaults and no prices.

    Args:
        format_name: an adapter's provider name (``"anthropic"``, ``"openai"``,
            ``"openai_responses"``, ``"gemini"``).
        model: the model name as sent ("" when unknown).
        table: a model registry to look the model up in (default ``MODELS``).

    Returns:
        The ``CacheRules``.

    Raises:
        DiagnosticsError: the format is not one the diagnostics read.

    >>> rules_for("anthropic", "claude-haiku-4-5").min_tokens
    4096
    """
    provider = _FORMAT_PROVIDER.get(format_name)
    if provider is None:
        raise DiagnosticsError(
            f"no cache rules for the {format_name!r} format; use anthropic, openai, "
            "openai_responses or gemini",
            path="adapter",
        )
    try:
        info = get_model(model, table, provider=provider) if model else None
    except UnknownModelError:
        info = None
    if info is None or info.provider != provider:
        semantics = _FALLBACK_SEMANTICS[provider]
        mode, step = _MODES[semantics]
        return CacheRules(
            provider=provider,
            mode=mode,
            min_tokens=_FALLBACK_MIN[provider],
            ttl_seconds=_ttl(semantics, None),
            step=step,
        )
    mode, step = _MODES[info.cache_semantics]
    return CacheRules(
        provider=provider,
        mode=mode,
        min_tokens=info.min_cache_tokens,
        ttl_seconds=_ttl(info.cache_semantics, info.retention),
        step=step,
        prices=info.prices,
    )


def ttl_of(rules: CacheRules, marker_ttl: str | None, retention: object) -> float:
    """The lifetime of the entry a request wrote (markers and retention applied)."""
    if rules.mode == "markers":
        return _TTL_1H if marker_ttl == "1h" else _TTL_5M
    if rules.mode == "automatic" and retention == "24h":
        return _TTL_24H
    return rules.ttl_seconds


def resolve_adapter(adapter: object) -> ProviderAdapter:
    """An adapter instance from an instance or a provider name.

    Args:
        adapter: a ``ProviderAdapter`` or the name of a registered provider
            (``"anthropic"``, ``"openai"``, ``"openai_responses"``, ``"gemini"``
            and any added with ``register_provider``).

    Returns:
        The adapter.

    Raises:
        TypeError: ``adapter`` is neither.
        DiagnosticsError: the name is not a format the diagnostics read.

    >>> resolve_adapter("gemini").name
    'gemini'
    """
    if isinstance(adapter, ProviderAdapter):
        return adapter
    if not isinstance(adapter, str):
        raise TypeError(
            f"adapter must be a ProviderAdapter or a provider name, got {type(adapter).__name__}"
        )
    from ..adapters import get_provider, providers

    try:
        cls = get_provider(adapter).adapter
    except UnknownProviderError as exc:
        names = ", ".join(sorted(p.name for p in providers()))
        raise DiagnosticsError(
            f"unknown provider {adapter!r}; use one of {names}", path="adapter"
        ) from exc
    return cls()
