"""Prefix caches of local inference engines: vLLM, a radix tree (SGLang), llama.cpp.

Approach: these engines cache at the token level and report a hit as the
number of prompt tokens they did not recompute. All of them keep at least
one token to compute (the last prompt token must run through the model to
produce the first output), so a hit is capped at ``n - 1``. They differ in
what they remember: a radix tree (SGLang) any earlier prefix, token by
token; vLLM whole blocks of ``block_size`` tokens chained by hash, so a hit
is rounded down to a block; llama.cpp the last tokens of each slot plus a
RAM prompt cache (``_llamacpp``). The first two use ``TokenTrie``.

Generated tokens: when a request finishes, vLLM caches every full block of
the sequence, generated tokens included (``KVCacheManager`` caches blocks as
they fill, and a finished request frees its blocks into the prefix cache),
and SGLang's ``cache_finished_req`` inserts the prompt and the output into
its radix tree. The last sampled token was never run through the model, so
it has no KV: both models add the prompt and all generated ids but the last,
when ``output_token_ids`` is given. This follows the engines' source and
design documents; it is not checked against a running vLLM or SGLang (they
need a GPU), unlike the llama.cpp model.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._blocks import FlatRequest
from .._usage import CacheUsage
from ._base import Clock, check_count
from ._llamacpp import LlamaCppCache
from ._trie import Seg, TokenTrie, segments

__all__ = ["LlamaCppCache", "RadixCache", "VLLMCache"]


def _with_output(segs: list[Seg], output_token_ids: Sequence[int] | None) -> list[Seg] | None:
    """The sequence a finished request leaves cached, or None without output ids."""
    kept = tuple(int(t) for t in (output_token_ids or ())[:-1])
    return [*segs, Seg("output", 0, len(kept), kept)] if kept else None


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

    def process(
        self,
        request: FlatRequest,
        *,
        now: float,
        output_tokens: int = 0,
        output_token_ids: Sequence[int] | None = None,
    ) -> CacheUsage:
        """Predict the usage of ``request`` and cache its tokens.

        Args:
            request: the flattened request.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.
            output_token_ids: the generated token ids, when known; all but
                the last are cached after the prompt.

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
        finished = _with_output(segs, output_token_ids)
        if finished is not None:
            self._trie.insert(finished, self._trie.match(finished, t), t)
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

    def process(
        self,
        request: FlatRequest,
        *,
        now: float,
        output_tokens: int = 0,
        output_token_ids: Sequence[int] | None = None,
    ) -> CacheUsage:
        """Predict the usage of ``request`` and cache its full blocks.

        Args:
            request: the flattened request.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.
            output_token_ids: the generated token ids, when known; all but
                the last are cached after the prompt.

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
        finished = _with_output(segs, output_token_ids)
        if finished is not None:
            self._trie.insert(finished, self._trie.match(finished, t), t)
        return _usage(total, hit, output_tokens)

    def __repr__(self) -> str:
        return f"VLLMCache(block_size={self.block_size}, capacity_blocks={self.capacity_blocks!r})"
