"""Prefix caches of local inference engines: vLLM, a radix tree, llama.cpp.

Approach: these engines cache at the token level and report a hit as the
number of prompt tokens they did not recompute. All three keep at least one
token to compute (the last prompt token must run through the model to
produce the first output), so a hit is capped at ``n - 1``. They differ in
what they remember: a radix tree (SGLang) any earlier prefix, token by
token; vLLM whole blocks of ``block_size`` tokens chained by hash, so a hit
is rounded down to a block; llama.cpp only the previous prompt of the slot
that serves the request. The first two use ``TokenTrie``; llama.cpp keeps
each slot's last prompt. Generated tokens are not added to the cache (the
next request's assistant message is compared as its own block), which can
only under-count hits.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._blocks import FlatRequest
from .._usage import CacheUsage
from ._base import Clock, check_count
from ._trie import Seg, TokenTrie, common_prefix, segments

__all__ = ["LlamaCppCache", "RadixCache", "VLLMCache"]


def _usage(total: int, hit: int, output_tokens: int) -> CacheUsage:
    return CacheUsage(
        cache_read_tokens=hit, uncached_input_tokens=total - hit, output_tokens=output_tokens
    )


class RadixCache:
    """An ideal token-level prefix cache (SGLang's radix tree).

    The hit is the longest common prefix with any earlier request still
    held, capped at ``n - 1`` tokens. Without a capacity it is the upper
    bound of what any prefix cache can reuse.

    Args:
        capacity_tokens: tokens kept; beyond it the least recently used
            leaves are evicted whole. ``None``: unbounded.

    Raises:
        ValueError: ``capacity_tokens`` is not an int >= 1.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> sys = CacheBlock(key="sys", tokens=500, kind="system", role="system")
    >>> ask = CacheBlock(key="q1", tokens=20, kind="text", role="user")
    >>> cache = RadixCache()
    >>> cache.process(FlatRequest(provider="local", blocks=(sys, ask)), now=0).cache_read_tokens
    0
    >>> cache.process(FlatRequest(provider="local", blocks=(sys,)), now=1).cache_read_tokens
    499
    """

    def __init__(self, capacity_tokens: int | None = None) -> None:
        check_count("capacity_tokens", capacity_tokens)
        self.capacity_tokens = capacity_tokens
        self.reset()

    def reset(self) -> None:
        """Forget everything cached.

        >>> RadixCache().reset()
        """
        self._trie = TokenTrie(capacity=self.capacity_tokens)
        self._clock = Clock()

    def process(self, request: FlatRequest, *, now: float, output_tokens: int = 0) -> CacheUsage:
        """Predict the usage of ``request`` and cache its tokens.

        Args:
            request: the flattened request.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.

        Returns:
            The predicted usage (no write tokens: local engines do not
            bill writes).

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: time runs backwards.

        >>> from stableprefix import FlatRequest
        >>> RadixCache().process(FlatRequest(provider="local"), now=0).input_tokens
        0
        """
        t = self._clock.advance(request, now, output_tokens)
        segs = segments(request)
        total = request.total_tokens
        m = self._trie.match(segs, t)
        hit = min(m.tokens, max(total - 1, 0))
        self._trie.insert(segs, m, t)
        return _usage(total, hit, output_tokens)

    def __repr__(self) -> str:
        return f"RadixCache(capacity_tokens={self.capacity_tokens!r})"


class VLLMCache:
    """vLLM's automatic prefix caching.

    Only full blocks of ``block_size`` tokens are cached, each identified by
    a hash chained over all tokens before it, so a hit is the matched prefix
    rounded down to a block, and capped below the prompt's last token.

    Args:
        block_size: tokens per KV block (vLLM's default is 16).
        capacity_blocks: blocks kept; beyond it the least recently used
            blocks are evicted, from the end of a sequence. ``None``: unbounded.

    Raises:
        ValueError: a size is not an int >= 1.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> req = FlatRequest(provider="local", blocks=(
    ...     CacheBlock(key="sys", tokens=100, kind="system", role="system"),))
    >>> cache = VLLMCache()
    >>> [cache.process(req, now=t).cache_read_tokens for t in (0, 1)]
    [0, 96]
    """

    def __init__(self, block_size: int = 16, capacity_blocks: int | None = None) -> None:
        check_count("block_size", block_size, allow_none=False)
        check_count("capacity_blocks", capacity_blocks)
        self.block_size = block_size
        self.capacity_blocks = capacity_blocks
        self.reset()

    def reset(self) -> None:
        """Forget everything cached.

        >>> VLLMCache().reset()
        """
        self._trie = TokenTrie(capacity=self.capacity_blocks, unit=self.block_size, truncate=True)
        self._clock = Clock()

    def process(self, request: FlatRequest, *, now: float, output_tokens: int = 0) -> CacheUsage:
        """Predict the usage of ``request`` and cache its full blocks.

        Args:
            request: the flattened request.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.

        Returns:
            The predicted usage.

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: time runs backwards.

        >>> from stableprefix import FlatRequest
        >>> VLLMCache().process(FlatRequest(provider="local"), now=0).cache_read_tokens
        0
        """
        t = self._clock.advance(request, now, output_tokens)
        segs = segments(request)
        total = request.total_tokens
        bs = self.block_size
        m = self._trie.match(segs, t)
        hit = min(m.tokens // bs, max(total - 1, 0) // bs) * bs
        self._trie.insert(segs, m, t)
        return _usage(total, hit, output_tokens)

    def __repr__(self) -> str:
        return f"VLLMCache(block_size={self.block_size}, capacity_blocks={self.capacity_blocks!r})"


class LlamaCppCache:
    """llama.cpp server: each slot reuses the prefix of its previous prompt.

    A request goes to the slot whose last prompt shares the largest part of
    it (at least ``similarity`` of the prompt, as the server's
    ``--slot-prompt-similarity``); otherwise to the least recently used
    slot. The hit is the common prefix with that slot's last prompt, capped
    at ``n - 1``.

    Args:
        slots: parallel slots (the server's ``--parallel``, default 1).
        similarity: share of the prompt a slot must match to be preferred.

    Raises:
        ValueError: ``slots`` is not an int >= 1 or ``similarity`` is not
            between 0 and 1.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> a = CacheBlock(key="a", tokens=50, kind="system", role="system")
    >>> b = CacheBlock(key="b", tokens=50, kind="system", role="system")
    >>> cache = LlamaCppCache()
    >>> [cache.process(FlatRequest(provider="local", blocks=bl), now=0).cache_read_tokens
    ...  for bl in [(a,), (b,), (a,)]]
    [0, 0, 0]
    >>> two = LlamaCppCache(slots=2)
    >>> [two.process(FlatRequest(provider="local", blocks=bl), now=0).cache_read_tokens
    ...  for bl in [(a,), (b,), (a,)]]
    [0, 0, 49]
    """

    def __init__(self, slots: int = 1, *, similarity: float = 0.5) -> None:
        check_count("slots", slots, allow_none=False)
        if (
            isinstance(similarity, bool)
            or not isinstance(similarity, (int, float))
            or not 0 <= similarity <= 1
        ):
            raise ValueError(f"similarity must be between 0 and 1, got {similarity!r}")
        self.slots = slots
        self.similarity = float(similarity)
        self.reset()

    def reset(self) -> None:
        """Empty every slot.

        >>> LlamaCppCache().reset()
        """
        self._prompts: list[list[Seg]] = [[] for _ in range(self.slots)]
        self._last_used = [-1] * self.slots
        self._tick = 0
        self._clock = Clock()

    def _pick(self, common: list[int], total: int) -> int:
        best = max(range(self.slots), key=lambda s: (common[s], -s))
        if self.slots == 1 or (common[best] > 0 and common[best] >= self.similarity * total):
            return best
        return min(range(self.slots), key=lambda s: self._last_used[s])

    def process(
        self,
        request: FlatRequest,
        *,
        now: float,
        output_tokens: int = 0,
        output_token_ids: Sequence[int] | None = None,
    ) -> CacheUsage:
        """Predict the usage of ``request`` and keep it as its slot's prompt.

        Args:
            request: the flattened request.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.
            output_token_ids: the generated token ids, when known. The engine
                keeps them in the slot after the prompt (all but the last,
                which it never evaluates), so a next request that sends the
                reply back reuses them too.

        Returns:
            The predicted usage.

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: time runs backwards.

        >>> from stableprefix import FlatRequest
        >>> LlamaCppCache().process(FlatRequest(provider="local"), now=0).cache_read_tokens
        0
        """
        self._clock.advance(request, now, output_tokens)
        segs = segments(request)
        total = request.total_tokens
        common = [common_prefix(segs, prompt) for prompt in self._prompts]
        slot = self._pick(common, total)
        hit = min(common[slot], max(total - 1, 0))
        self._tick += 1
        if output_token_ids:
            kept = tuple(int(t) for t in output_token_ids[:-1])
            if kept:
                segs = [*segs, Seg("output", 0, len(kept), kept)]
        self._prompts[slot] = segs
        self._last_used[slot] = self._tick
        return _usage(total, hit, output_tokens)

    def __repr__(self) -> str:
        return f"LlamaCppCache(slots={self.slots}, similarity={self.similarity})"
