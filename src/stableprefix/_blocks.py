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
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CacheBlock", "FlatRequest"]

# Anthropic cache_control TTLs, then OpenAI prompt_cache_breakpoint TTLs.
_TTLS = (None, "5m", "1h", "30m", "12h")
_MODES = (None, "implicit", "explicit")


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
        cache_ttl: the TTL of the explicit cache marker the block carries,
            else ``None``: ``"5m"`` or ``"1h"`` for Anthropic ``cache_control``,
            ``"30m"`` or ``"12h"`` for an OpenAI ``prompt_cache_breakpoint``.
        token_ids: exact token ids when a real tokenizer produced them.

    >>> CacheBlock(key="ab", tokens=12, kind="text", role="user").cache_ttl is None
    True
    """

    key: str
    tokens: int
    kind: str
    role: str
    cache_ttl: str | None = None
    token_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError("CacheBlock.key must be a non-empty string")
        if isinstance(self.tokens, bool) or not isinstance(self.tokens, int) or self.tokens < 0:
            raise ValueError(f"CacheBlock.tokens must be an int >= 0, got {self.tokens!r}")
        if self.cache_ttl not in _TTLS:
            raise ValueError(
                f"CacheBlock.cache_ttl must be one of {_TTLS}, got {self.cache_ttl!r}"
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

    >>> r = FlatRequest(provider="openai", blocks=(
    ...     CacheBlock(key="s", tokens=10, kind="system", role="system"),))
    >>> r.total_tokens
    10
    """

    provider: str
    blocks: tuple[CacheBlock, ...] = field(default_factory=tuple)
    routing_key: str | None = None
    cache_mode: str | None = None

    def __post_init__(self) -> None:
        if self.cache_mode not in _MODES:
            raise ValueError(
                f"FlatRequest.cache_mode must be one of {_MODES}, got {self.cache_mode!r}"
            )

    @property
    def total_tokens(self) -> int:
        """Sum of the blocks' tokens."""
        return sum(b.tokens for b in self.blocks)

    @property
    def marker_count(self) -> int:
        """How many blocks carry an explicit cache marker."""
        return sum(1 for b in self.blocks if b.cache_ttl is not None)
