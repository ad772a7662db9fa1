"""A request flattened into the ordered blocks a provider caches by.

Approach: every adapter can turn a request it built into a ``FlatRequest``:
the sequence of cacheable units in prefix order (tool definitions, system
blocks, message content blocks), each with a content key, a token count and
the cache marker it carries. Cache models in ``stableprefix.sim`` consume
only this, so one simulator serves every provider format. The key of a block
is a hash of its canonical bytes *and of its position in the role
structure*, so two requests share a prefix exactly as far as their keys agree.
When exact token ids are known (a local engine's tokenizer), they ride along
so token-level caches can be simulated exactly.

What an adapter puts where (all fields beyond key/tokens/kind/role are
optional, so older adapters keep working):

- ``CacheBlock.cache_ttl``: the block ends an explicit cache marker. Anthropic
  ``cache_control`` -> ``"5m"``/``"1h"``; OpenAI GPT-5.6+
  ``prompt_cache_breakpoint`` -> ``"30m"`` (or its own ``ttl``, ``"12h"``).
- ``CacheBlock.message_end``: False on every block of a message but its last
  (an adapter that emits one block per message leaves the default). OpenAI's
  lookups consider message endings.
- ``FlatRequest.cache_mode``: OpenAI ``prompt_cache_options.mode``
  (``"implicit"``, the default, or ``"explicit"``).
- ``FlatRequest.auto_cache_ttl``: Anthropic's top-level ``cache_control``
  (automatic caching): ``"5m"`` or ``"1h"``.
- ``FlatRequest.settings``: fingerprints of request settings the provider's
  cache depends on, as ``(scope, fingerprint)`` pairs. The scope says from
  where on a change invalidates the prefix: ``"tools"`` (the whole prompt,
  e.g. OpenAI ``tool_choice``/``text.format``/``reasoning.effort``/
  ``parallel_tool_calls``), ``"system"`` (from the system prompt on, e.g.
  Anthropic's speed setting or web-search/citations toggles) or
  ``"messages"`` (from the first message on, e.g. Anthropic ``tool_choice``,
  thinking parameters, effort). Use ``settings_fingerprint`` to build one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CacheBlock", "FlatRequest", "settings_fingerprint"]

_TTLS = (None, "5m", "1h", "30m", "12h")
SETTING_SCOPES = ("tools", "system", "messages")
_MODES = (None, "implicit", "explicit")


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """A short stable hash of request settings (key order does not matter).

    Args:
        settings: JSON-serialisable values, e.g. ``{"tool_choice": "auto"}``.

    Returns:
        A hex digest; equal settings give equal digests.

    Raises:
        TypeError: a value cannot be serialised as JSON.

    >>> settings_fingerprint({"a": 1, "b": 2}) == settings_fingerprint({"b": 2, "a": 1})
    True
    """
    try:
        text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"settings must be JSON-serialisable: {exc}") from exc
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheBlock:
    """One cacheable unit of a flattened request.

    Attributes:
        key: hash of the block's canonical bytes (equal keys = equal bytes).
        tokens: tokens the block contributes to the prompt.
        kind: ``"tools"``, ``"system"``, ``"text"``, ``"tool_use"``,
            ``"tool_result"``, ``"image"``, ``"thinking"`` or ``"other"``.
        role: the role of the message holding it (``"tools"`` and
            ``"system"`` for the static part).
        cache_ttl: set when an explicit cache marker ends at this block:
            Anthropic ``cache_control`` (``"5m"``/``"1h"``) or OpenAI
            ``prompt_cache_breakpoint`` (``"30m"``/``"12h"``); else ``None``.
        token_ids: exact token ids when a real tokenizer produced them.
        message_end: whether the block is the last one of its message.

    >>> CacheBlock(key="ab", tokens=12, kind="text", role="user").cache_ttl is None
    True
    """

    key: str
    tokens: int
    kind: str
    role: str
    cache_ttl: str | None = None
    token_ids: tuple[int, ...] | None = None
    message_end: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError("CacheBlock.key must be a non-empty string")
        if isinstance(self.tokens, bool) or not isinstance(self.tokens, int) or self.tokens < 0:
            raise ValueError(f"CacheBlock.tokens must be an int >= 0, got {self.tokens!r}")
        if self.cache_ttl not in _TTLS:
            raise ValueError(
                "CacheBlock.cache_ttl must be None, '5m', '1h', '30m' or '12h', "
                f"got {self.cache_ttl!r}"
            )
        if self.token_ids is not None and len(self.token_ids) != self.tokens:
            raise ValueError(
                f"CacheBlock.token_ids has {len(self.token_ids)} ids but tokens={self.tokens}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class FlatRequest:
    """A request as a cache sees it.

    Attributes:
        provider: the adapter's provider name.
        blocks: the cacheable units in prefix order.
        routing_key: what the provider routes cache lookups by beyond the
            prefix itself (OpenAI's ``prompt_cache_key``), if any.
        cache_mode: OpenAI's ``prompt_cache_options.mode`` when the request
            sets it: ``"implicit"`` (the service adds a breakpoint at the
            latest user or tool message) or ``"explicit"`` (only the blocks'
            own breakpoints); ``None`` leaves the provider default (implicit).
        auto_cache_ttl: Anthropic's top-level ``cache_control`` TTL
            (``"5m"``/``"1h"``) when the request uses automatic caching.
        settings: ``(scope, fingerprint)`` pairs of the request settings the
            cache depends on; scope is ``"tools"``, ``"system"`` or
            ``"messages"`` (see the module docstring).

    >>> r = FlatRequest(provider="openai", blocks=(
    ...     CacheBlock(key="s", tokens=10, kind="system", role="system"),))
    >>> r.total_tokens
    10
    """

    provider: str
    blocks: tuple[CacheBlock, ...] = field(default_factory=tuple)
    routing_key: str | None = None
    cache_mode: str | None = None
    auto_cache_ttl: str | None = None
    settings: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.cache_mode not in _MODES:
            raise ValueError(
                f"FlatRequest.cache_mode must be None, 'implicit' or 'explicit', "
                f"got {self.cache_mode!r}"
            )
        if self.auto_cache_ttl not in (None, "5m", "1h"):
            raise ValueError(
                "FlatRequest.auto_cache_ttl must be None, '5m' or '1h', "
                f"got {self.auto_cache_ttl!r}"
            )
        for pair in self.settings:
            if (
                not isinstance(pair, tuple)
                or len(pair) != 2
                or pair[0] not in SETTING_SCOPES
                or not isinstance(pair[1], str)
            ):
                raise ValueError(
                    "FlatRequest.settings must hold (scope, fingerprint) pairs with scope "
                    f"'tools', 'system' or 'messages', got {pair!r}"
                )

    @property
    def total_tokens(self) -> int:
        """Sum of the blocks' tokens."""
        return sum(b.tokens for b in self.blocks)

    @property
    def marker_count(self) -> int:
        """How many blocks carry an explicit cache marker."""
        return sum(1 for b in self.blocks if b.cache_ttl is not None)
