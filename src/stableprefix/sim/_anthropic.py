"""Anthropic's explicit prompt cache (``cache_control`` markers).

Approach: Anthropic caches nothing on its own. Each marked block writes one
entry: the hash of the whole prefix up to and including that block
(tools, then system, then messages). To read, each marker looks back from
its own block over at most 20 block positions for the longest prefix that
an earlier request wrote and that is still alive; the longest such match
over all markers is the read. So a marker placed more than 20 positions
after the previous request's last marker finds nothing, even when every
byte before it is unchanged. We count a run of consecutive ``tool_use``
blocks (or of ``tool_result`` blocks) as one position, as parallel tool
calls behave in practice; pass ``collapse_tool_runs=False`` to count every
block (the documentation only says "about 20 blocks").

Accounting follows the usage fields: ``cache_read_input_tokens`` is the
read prefix, ``cache_creation_input_tokens`` runs from the end of the read
to the last marker that could be cached, ``input_tokens`` is the rest. A
prefix shorter than the model's minimum is silently not cached. Entries
live 5 minutes or 1 hour from the request that wrote or last read them.

Automatic caching (a top-level ``cache_control``, ``FlatRequest.auto_cache_ttl``)
is the same machinery with one marker the API places itself: on the last
cacheable block, walking back past blocks that cannot carry one (thinking
blocks, empty blocks). It takes one of the four marker slots; a no-op when
that block already carries a marker with the same TTL, an error (HTTP 400)
when its TTL differs or when four explicit markers are already present.

A new entry becomes readable only once the response of the request that
wrote it begins ("a cache entry only becomes available after the first
response begins"): pass ``response_delay`` and requests sent before then
miss and write the prefix themselves. Request settings that invalidate the
cache (``FlatRequest.settings``) are folded into the prefix identity.

Prefixes are identified by interning ``(previous prefix id, block key)``
pairs, so the whole prefix is never rehashed and ids are exact.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import accumulate

from .._blocks import CacheBlock, FlatRequest
from .._usage import CacheUsage
from ._base import (
    CacheRuleError,
    Clock,
    ModelTable,
    PrefixEntries,
    check_count,
    check_delay,
    model_rules,
    resolve_minimum,
    settled_blocks,
)

__all__ = ["AnthropicCache"]

_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_RUN_KINDS = ("tool_use", "tool_result")
_NO_MARKER_KINDS = ("thinking",)  # blocks that cannot carry cache_control


def _positions(blocks: tuple[CacheBlock, ...], upto: int, collapse: bool) -> list[int]:
    """Lookback position of each block; a tool run shares one position."""
    pos: list[int] = []
    p = -1
    prev = ""
    for b in blocks[: upto + 1]:
        if not (collapse and b.kind == prev and b.kind in _RUN_KINDS):
            p += 1
        pos.append(p)
        prev = b.kind
    return pos


def _with_automatic(blocks: tuple[CacheBlock, ...], ttl: str, limit: int) -> tuple[CacheBlock, ...]:
    """Place the automatic marker on the last block that can carry one."""
    target = next(
        (
            i
            for i in range(len(blocks) - 1, -1, -1)
            if blocks[i].tokens > 0 and blocks[i].kind not in _NO_MARKER_KINDS
        ),
        None,
    )
    if target is None:
        return blocks
    existing = blocks[target].cache_ttl
    if existing == ttl:
        return blocks  # "a no-op if the last block already carries the same TTL"
    if existing is not None:
        raise CacheRuleError(
            f"the top-level cache_control (ttl {ttl}) lands on block {target}, which already "
            f"has a {existing} marker; use one TTL or drop one of them",
            rule="auto_ttl_conflict",
        )
    explicit = sum(1 for b in blocks if b.cache_ttl is not None)
    if explicit >= limit:
        raise CacheRuleError(
            f"{explicit} explicit cache markers plus the top-level cache_control exceed the "
            f"{limit} breakpoint slots; drop one marker or the automatic one",
            rule="max_markers",
        )
    marked = replace(blocks[target], cache_ttl=ttl)
    return (*blocks[:target], marked, *blocks[target + 1 :])


def _check_markers(blocks: tuple[CacheBlock, ...], limit: int) -> list[int]:
    marks = [i for i, b in enumerate(blocks) if b.cache_ttl is not None]
    if len(marks) > limit:
        raise CacheRuleError(
            f"{len(marks)} cache markers in one request, at most {limit} are allowed; "
            "keep the markers on the last tools/system block and the newest messages",
            rule="max_markers",
        )
    seen_5m = False
    for i in marks:
        ttl = blocks[i].cache_ttl
        if ttl not in _TTL_SECONDS:
            raise CacheRuleError(
                f"block {i} has cache ttl {ttl!r}; Anthropic accepts '5m' or '1h'",
                rule="ttl",
            )
        if ttl == "5m":
            seen_5m = True
        elif seen_5m:
            raise CacheRuleError(
                f"block {i} has a 1h marker after a 5m marker; markers with a longer "
                "TTL must come before shorter ones",
                rule="ttl_order",
            )
    return marks


class AnthropicCache:
    """Simulates Anthropic's prompt cache for one model.

    Args:
        model: model id (sets the minimum prefix from the model registry;
            an unknown id gets its family's conservative minimum).
        min_tokens: override the minimum cacheable prefix.
        lookback: block positions a marker looks back over (20).
        max_markers: markers allowed per request (4).
        collapse_tool_runs: count a run of tool_use (or tool_result) blocks
            as one lookback position.
        table: registry (or legacy price table) to look ``model`` up in
            (default: the built-in registry).

    Raises:
        UnknownModelError: ``model`` is in no family the registry knows.
        ValueError: a number is out of range.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> sys = CacheBlock(key="sys", tokens=2000, kind="system", role="system", cache_ttl="5m")
    >>> q = CacheBlock(key="q", tokens=30, kind="text", role="user")
    >>> cache = AnthropicCache(model="claude-sonnet-4-5")
    >>> req = FlatRequest(provider="anthropic", blocks=(sys, q))
    >>> first, second = cache.process(req, now=0), cache.process(req, now=60)
    >>> first.cache_write_tokens, second.cache_read_tokens, second.uncached_input_tokens
    (2000, 2000, 30)
    """

    def __init__(
        self,
        model: str | None = "claude-sonnet-4-5",
        *,
        min_tokens: int | None = None,
        lookback: int = 20,
        max_markers: int = 4,
        collapse_tool_runs: bool = True,
        table: ModelTable | None = None,
    ) -> None:
        check_count("lookback", lookback, allow_none=False)
        check_count("max_markers", max_markers, allow_none=False)
        self.model = model
        self.min_tokens = resolve_minimum(min_tokens, 1024, model_rules(model, table, "anthropic"))
        self.lookback = lookback
        self.max_markers = max_markers
        self.collapse_tool_runs = bool(collapse_tool_runs)
        self.reset()

    def reset(self) -> None:
        """Forget every cache entry.

        >>> AnthropicCache().reset()
        """
        self._table = PrefixEntries()
        self._clock = Clock()

    def _lookup(self, mark: int, ids: list[int], pos: list[int], now: float) -> int:
        """The longest live entry within the lookback of ``mark`` (-1: none)."""
        j = mark
        while j >= 0 and pos[mark] - pos[j] < self.lookback:
            if self._table.readable(ids[j], now):
                return j
            j -= 1
        return -1

    def process(
        self,
        request: FlatRequest,
        *,
        now: float,
        output_tokens: int = 0,
        response_delay: float = 0.0,
    ) -> CacheUsage:
        """Predict the usage of ``request`` and update the cache entries.

        Args:
            request: the flattened request, markers in ``cache_ttl``, an
                automatic marker in ``auto_cache_ttl``.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.
            response_delay: seconds until its response begins; what it
                writes is readable from then on (0: at once).

        Returns:
            The predicted usage, as the response's ``usage`` would say.

        Raises:
            CacheRuleError: more than ``max_markers`` markers (automatic one
                included), a 1h marker after a 5m one, a TTL Anthropic does
                not accept, or an automatic marker that conflicts with an
                explicit one (the API answers 400).
            TypeError: an argument has the wrong type.
            ValueError: time runs backwards.

        >>> from stableprefix import FlatRequest
        >>> AnthropicCache().process(FlatRequest(provider="anthropic"), now=0).input_tokens
        0
        """
        t = self._clock.advance(request, now, output_tokens)
        ready = t + check_delay(response_delay)
        blocks = settled_blocks(request)
        if request.auto_cache_ttl is not None:
            blocks = _with_automatic(blocks, request.auto_cache_ttl, self.max_markers)
        total = request.total_tokens
        marks = _check_markers(blocks, self.max_markers)
        if not marks:
            return CacheUsage(uncached_input_tokens=total, output_tokens=output_tokens)
        last = marks[-1]
        ids = self._table.prefix_ids(blocks[: last + 1])
        pos = _positions(blocks, last, self.collapse_tool_runs)
        cum = list(accumulate(b.tokens for b in blocks[: last + 1]))
        hits = [self._lookup(m, ids, pos, t) for m in marks]
        read_at = max(hits)
        read = cum[read_at] if read_at >= 0 else 0
        for j in hits:
            if j >= 0:  # a read refreshes the entry's lifetime
                self._table.refresh(ids[j], t)
        write = write_1h = 0
        for m in marks:
            if cum[m] < self.min_tokens:
                continue
            ttl_name = blocks[m].cache_ttl or "5m"
            ttl = _TTL_SECONDS[ttl_name]
            old = self._table.entries.get(ids[m])
            if old is not None and old[0] < t:
                old = None
            if old is None:
                self._table.entries[ids[m]] = (t + ttl, ttl, ready)
            elif old[0] < t + ttl:  # a pending entry keeps its earlier ready time
                self._table.entries[ids[m]] = (t + ttl, max(ttl, old[1]), old[2])
            write = max(write, cum[m] - read)
            if ttl_name == "1h":
                write_1h = max(write_1h, cum[m] - read)
        return CacheUsage(
            cache_read_tokens=read,
            cache_write_tokens=write,
            cache_write_1h_tokens=write_1h,
            uncached_input_tokens=total - read - write,
            output_tokens=output_tokens,
        )

    def __repr__(self) -> str:
        return (
            f"AnthropicCache(model={self.model!r}, min_tokens={self.min_tokens}, "
            f"lookback={self.lookback})"
        )
