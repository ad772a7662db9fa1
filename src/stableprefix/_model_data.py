"""The built-in model registry as plain data (loaded by ``stableprefix.models``).

Every row names its sources (keys of ``SOURCES``) and the date its numbers
were last compared with them. Prices are USD per million tokens. Cache
prices are given as multipliers of the row's input price, as the providers
publish them ("cache reads are 0.1x the base input price"); ``cache_read``
or ``cache_write`` given explicitly win over a multiplier (Anthropic's
rounded prices for Claude Haiku 3). ``input``/``output`` of ``None``: the
rules are published, the price is not (cost estimation then says so).

Write TTL keys: Anthropic ``"5m"`` and ``"1h"``; OpenAI GPT-5.6+ ``"30m"``
(the default) and ``"12h"`` (Responses API only). ``long_context`` tiers
apply to a whole request whose prompt exceeds ``above`` tokens.

To add or change a model, pass your own rows through
``stableprefix.models.load_models`` and merge the result with ``MODELS``;
this module is never edited at run time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ALIASES", "FAMILIES", "MODEL_ROWS", "PROVIDER_FAMILIES", "SOURCES"]

#: Source key -> (URL, what the copy is and when it was taken).
SOURCES: dict[str, tuple[str, str]] = {
    "A-PC": (
        "https://platform.claude.com/docs/en/build-with-claude/prompt-caching",
        "Anthropic, Prompt caching: minimum table, multipliers, automatic caching "
        "(copies fetched 2026-10-03 to 2026-10-10)",
    ),
    "A-PR": (
        "https://platform.claude.com/docs/en/about-claude/pricing",
        "Anthropic, Pricing, with the per-model cache-read footnotes (fetched 2026-10-07..10)",
    ),
    "A-MP": (
        "https://platform.claude.com/docs/en/models/overview",
        "Anthropic model pages (Opus 5, Opus 5.5, Sonnet 5, Sonnet 5.5, Haiku 5.5, "
        "Opus 4.5 specification boxes; copies from 2026-07 to 2026-10)",
    ),
    "O-PC": (
        "https://developers.openai.com/api/docs/guides/prompt-caching",
        "OpenAI, Prompt caching guide (copy accessed 2026-09-26; 2026-11-04 translation "
        "for the 12h write multiplier)",
    ),
    "O-PR": (
        "https://platform.openai.com/docs/pricing",
        "OpenAI, Pricing (quoted 2026-08-11, after the 2026-07-30 GPT-5.6 price cut)",
    ),
    "O-PR-2025": (
        "https://web.archive.org/web/20250903020216/https://platform.openai.com/docs/pricing",
        "OpenAI, Pricing, archived 2025-09-03 (legacy rows)",
    ),
    "G-PC": (
        "https://ai.google.dev/gemini-api/docs/caching",
        "Google, Context caching: implicit minimums (copies 'Last updated 2026-07-07' "
        "and '2026-10-13')",
    ),
    "G-PR": (
        "https://ai.google.dev/gemini-api/docs/pricing",
        "Google, Gemini API pricing (quoted 2026-10-07)",
    ),
    "3P": (
        "",
        "third-party readings of a provider page (no first-party copy was available)",
    ),
}

_A = {"read": 0.1, "5m": 1.25, "1h": 2.0}  # Anthropic's standard multipliers (A-PC)
_A05 = {"read": 0.05, "5m": 1.25, "1h": 2.0}  # "priced at 0.05x" (A-PR footnote)
_A025 = {"read": 0.025, "5m": 1.25, "1h": 2.0}  # "priced at 0.025x" (A-PR footnote)
_O56 = {"read": 0.1, "30m": 1.25, "12h": 2.5}  # GPT-5.6 and later (O-PC)
_OLD_MID = "openai-prefix"
_BP = "openai-breakpoints"


def _claude(
    name: str, minimum: int, inp: float | None, out: float | None, **kw: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "provider": "anthropic",
        "cache_semantics": "anthropic",
        "min_cache_tokens": minimum,
        "input": inp,
        "output": out,
        "multipliers": _A,
        "sources": ("A-PC", "A-PR"),
        "checked": "2026-12-01",
    }
    row.update(kw)
    return row


def _gpt(
    name: str, inp: float | None, read: float | None, out: float | None, **kw: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "provider": "openai",
        "cache_semantics": _OLD_MID,
        "min_cache_tokens": 1024,
        "input": inp,
        "output": out,
        "cache_read": read,
        "multipliers": {},
        "sources": ("O-PC", "O-PR-2025"),
        "checked": "2026-12-01",
        "retention": "in_memory",
        "retention_options": ("in_memory",),
    }
    row.update(kw)
    return row


def _gpt56(name: str, inp: float, out: float, **kw: Any) -> dict[str, Any]:
    # Above 272k input tokens the whole request costs 2x input, 1.5x output (O-PR).
    row = _gpt(
        name,
        inp,
        None,
        out,
        cache_semantics=_BP,
        multipliers=_O56,
        sources=("O-PC", "O-PR"),
        retention="30m",
        retention_options=("30m", "12h"),
        long_context=({"above": 272_000, "input": inp * 2, "output": out * 1.5},),
    )
    row.update(kw)
    return row


def _gemini(
    name: str, minimum: int, inp: float | None, read: float | None, out: float | None, **kw: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "provider": "gemini",
        "cache_semantics": "gemini-implicit",
        "min_cache_tokens": minimum,
        "input": inp,
        "output": out,
        "cache_read": read,
        "multipliers": {},
        "sources": ("G-PC", "G-PR"),
        "checked": "2026-12-01",
    }
    row.update(kw)
    return row


# 24h extended retention: "Organizations without Zero Data Retention enabled
# default to 24h" on the models that support it; gpt-5.5 supports only 24h (O-PC).
_EXT = {"retention": "24h", "retention_options": ("in_memory", "24h")}

MODEL_ROWS: tuple[dict[str, Any], ...] = (
    # ---- Anthropic: minimums from A-PC's table, prices from A-PR / model pages.
    _claude(
        "claude-sonnet-5-5",
        512,
        2.0,
        10.0,
        multipliers=_A05,
        sources=("A-PC", "A-PR", "A-MP"),
        note="read $0.10 (0.05x) since 2026-10-07; $0.20 at launch",
    ),
    _claude("claude-opus-5-5", 512, 4.0, 20.0, multipliers=_A05, sources=("A-PC", "A-PR", "A-MP")),
    _claude(
        "claude-haiku-5-5",
        4096,
        0.10,
        0.50,
        sources=("A-PR", "A-MP"),
        long_context=({"above": 100_000, "input": 0.50, "output": 2.50},),
        note="minimum not published: the Haiku family's highest (4096) is assumed",
    ),
    _claude("claude-fable-5-1", 512, 10.0, 50.0, multipliers=_A025),
    _claude(
        "claude-mythos-5-1",
        512,
        None,
        None,
        multipliers=_A025,
        note="limited availability; no public price",
    ),
    _claude("claude-fable-5", 512, 10.0, 50.0),
    _claude("claude-mythos-5", 512, None, None, note="limited availability; no public price"),
    _claude("claude-opus-5", 512, 5.0, 25.0, sources=("A-PC", "A-PR", "A-MP")),
    _claude("claude-sonnet-5", 1024, 2.0, 10.0, sources=("A-PC", "A-PR", "A-MP")),
    _claude("claude-opus-4-8", 1024, 5.0, 25.0),
    _claude("claude-opus-4-7", 2048, 5.0, 25.0),
    _claude("claude-opus-4-6", 4096, 5.0, 25.0),
    _claude("claude-opus-4-5", 4096, 5.0, 25.0),
    _claude("claude-sonnet-4-6", 1024, 3.0, 15.0),
    _claude("claude-sonnet-4-5", 1024, 3.0, 15.0),
    _claude("claude-opus-4-1", 1024, 15.0, 75.0, note="retired except on Bedrock / Google Cloud"),
    _claude("claude-opus-4", 1024, 15.0, 75.0, note="retired except on Bedrock / Google Cloud"),
    _claude("claude-sonnet-4", 1024, 3.0, 15.0),
    _claude("claude-haiku-4-5", 4096, 1.0, 5.0),
    _claude("claude-3-7-sonnet", 1024, 3.0, 15.0, note="retired; historical minimum"),
    _claude("claude-3-5-haiku", 2048, 0.8, 4.0, note="retired except on Bedrock / Google Cloud"),
    _claude(
        "claude-3-haiku",
        2048,
        0.25,
        1.25,
        cache_read=0.03,
        cache_write={"5m": 0.30},
        note="retired; Anthropic's published prices are rounded",
    ),
    # ---- OpenAI GPT-5.6 and later: breakpoints, 30-minute TTL, 1.25x writes.
    _gpt56("gpt-5.6-sol", 5.0, 30.0),
    _gpt56("gpt-5.6-terra", 2.0, 12.0, note="after the 2026-07-30 price cut"),
    _gpt56("gpt-5.6-luna", 0.20, 1.20, note="after the 2026-07-30 price cut"),
    # ---- OpenAI earlier models: any-prefix matching, no write fee.
    _gpt(
        "gpt-5.5",
        None,
        None,
        None,
        retention="24h",
        retention_options=("24h",),
        sources=("O-PC",),
        cache_step=2048,
        note="only 24h retention; 2,048-token breakpoint intervals",
    ),
    _gpt(
        "gpt-5.5-pro",
        None,
        None,
        None,
        retention="24h",
        retention_options=("24h",),
        sources=("O-PC",),
        cache_step=2048,
        note="only 24h retention",
    ),
    _gpt("gpt-5.4", 2.50, 0.25, 15.0, sources=("O-PC", "3P"), **_EXT),
    _gpt("gpt-5.2", None, None, None, sources=("O-PC",), **_EXT),
    _gpt("gpt-5.1", None, None, None, sources=("O-PC",), **_EXT),
    _gpt("gpt-5", 1.25, 0.125, 10.0, **_EXT),
    _gpt("gpt-5-mini", 0.25, 0.025, 2.0),
    _gpt("gpt-4.1", 2.0, 0.5, 8.0, **_EXT),
    _gpt("gpt-4o", 2.5, 1.25, 10.0),
    _gpt("gpt-4o-mini", 0.15, 0.075, 0.6),
    # ---- Gemini: implicit caching, 90% read discount, no write fee.
    _gemini(
        "gemini-2.5-pro",
        2048,
        1.25,
        0.125,
        10.0,
        storage_per_hour=4.5,
        long_context=({"above": 200_000, "input": 2.50, "output": 15.0, "cache_read": 0.25},),
    ),
    _gemini("gemini-2.5-flash", 2048, 0.30, 0.03, 2.5, storage_per_hour=1.0),
    _gemini(
        "gemini-3.8-flash",
        4096,
        0.75,
        0.075,
        3.75,
        storage_per_hour=0.50,
        note="promotional price through 2026-12-31 ($1.50 / $7.50 from 2027-01-01)",
    ),
    _gemini("gemini-3.7-flash", 4096, None, None, None),
    _gemini("gemini-3.6-flash", 4096, None, None, None),
    _gemini("gemini-3.5-flash", 4096, None, None, None),
    _gemini("gemini-3.1-pro-preview", 4096, None, None, None),
    _gemini(
        "gemini-4-argon",
        4096,
        None,
        None,
        None,
        sources=("G-PC",),
        note="listed in the 2026-10-13 copy of the caching page",
    ),
)

#: Other names of a row: provider aliases that route to one model.
ALIASES: dict[str, str] = {
    "gpt-5.6": "gpt-5.6-sol",  # "The gpt-5.6 alias routes to Sol"
}

# Unknown ids fall back to their family's conservative rules: the family's
# highest published minimum (so nothing is predicted to cache that might
# not), its cache semantics and retention, and no price. ``since`` selects
# by the version number after the prefix: OpenAI's breakpoint rules apply
# to "GPT-5.6 and later model families" (O-PC). First match wins.
FAMILIES: tuple[dict[str, Any], ...] = (
    {
        "prefix": "claude-fable-",
        "provider": "anthropic",
        "family": "claude-fable",
        "min_cache_tokens": 512,
        "cache_semantics": "anthropic",
    },
    {
        "prefix": "claude-mythos-",
        "provider": "anthropic",
        "family": "claude-mythos",
        "min_cache_tokens": 512,
        "cache_semantics": "anthropic",
    },
    {
        "prefix": "claude-",
        "provider": "anthropic",
        "family": "claude",
        "min_cache_tokens": 4096,
        "cache_semantics": "anthropic",
    },
    {
        "prefix": "gpt-",
        "since": (5, 6),
        "provider": "openai",
        "family": "gpt-5.6+",
        "min_cache_tokens": 1024,
        "cache_semantics": _BP,
        "retention": "30m",
        "retention_options": ("30m", "12h"),
    },
    {
        "prefix": "gpt-",
        "provider": "openai",
        "family": "gpt-legacy",
        "min_cache_tokens": 1024,
        "cache_semantics": _OLD_MID,
        "retention": "in_memory",
        "retention_options": ("in_memory",),
    },
    {
        "prefix": "o1",
        "provider": "openai",
        "family": "o-series",
        "min_cache_tokens": 1024,
        "cache_semantics": _OLD_MID,
        "retention": "in_memory",
        "retention_options": ("in_memory",),
    },
    {
        "prefix": "o3",
        "provider": "openai",
        "family": "o-series",
        "min_cache_tokens": 1024,
        "cache_semantics": _OLD_MID,
        "retention": "in_memory",
        "retention_options": ("in_memory",),
    },
    {
        "prefix": "o4",
        "provider": "openai",
        "family": "o-series",
        "min_cache_tokens": 1024,
        "cache_semantics": _OLD_MID,
        "retention": "in_memory",
        "retention_options": ("in_memory",),
    },
    {
        "prefix": "chatgpt-",
        "provider": "openai",
        "family": "gpt-legacy",
        "min_cache_tokens": 1024,
        "cache_semantics": _OLD_MID,
        "retention": "in_memory",
        "retention_options": ("in_memory",),
    },
    {
        "prefix": "gemini-",
        "since": (3, 0),
        "provider": "gemini",
        "family": "gemini-3+",
        "min_cache_tokens": 4096,
        "cache_semantics": "gemini-implicit",
    },
    {
        "prefix": "gemini-",
        "provider": "gemini",
        "family": "gemini-2",
        "min_cache_tokens": 2048,
        "cache_semantics": "gemini-implicit",
    },
)

#: The family an id falls back to when only its provider is known (from a
#: prefix such as ``anthropic/`` or the adapter asking).
PROVIDER_FAMILIES: dict[str, str] = {
    "anthropic": "claude",
    "openai": "gpt-legacy",
    "gemini": "gemini-3+",
}
