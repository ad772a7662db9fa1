"""OpenAI's prompt cache for GPT-5.6 and later families: exact prefixes at breakpoints.

Approach: these models cache a prefix only where a *breakpoint* ends it and
never fall back to the longest unmarked prefix. A request has explicit
breakpoints (``prompt_cache_breakpoint`` on user, system/developer or tool
content: ``CacheBlock.cache_ttl`` of ``"30m"`` or ``"12h"``) and, in the
default implicit mode, one implicit breakpoint the service places at the
latest user or tool message. Each request writes at most four new entries
(the implicit breakpoint uses one; when there are more candidates we write
the longest prefixes, an assumption: the documentation gives only the
limit). To read, the service checks a fixed set of boundaries and takes the
longest live entry among them: the first 2 and latest 50 explicit
breakpoints, the implicit breakpoint, up to 20 earlier eligible message
endings and the end of the initial run of developer messages. A boundary
shorter than the minimum (1,024 tokens) is neither read nor written. Hits are
exact, with no 128-token rounding. An entry lives 30 minutes after its last
write or reuse (12 hours for a ``"12h"`` breakpoint).

Accounting: ``cache_read_tokens`` is the read prefix, ``cache_write_tokens``
runs from the end of the read to the furthest boundary written, the rest is
uncached input. Writes up to the furthest ``"12h"`` breakpoint count as
long-TTL writes (``cache_write_1h_tokens``, priced as the 12h write).

"Eligible" message endings are taken to be the ends of messages that can
carry a breakpoint (user, system, developer and tool messages), since a
breakpoint may not sit on assistant content. As for Anthropic, an entry
is readable only once the response that wrote it begins (``response_delay``),
and request settings are part of the prefix (``FlatRequest.settings``).
"""

from __future__ import annotations

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

__all__ = ["OpenAIBreakpointCache"]

_TTL_SECONDS = {"30m": 1800.0, "12h": 43200.0}
_MARKABLE = ("user", "system", "developer", "tool")
_SYSTEM_ROLES = ("system", "developer")


def _eligible_end(b: CacheBlock) -> bool:
    return b.message_end and (b.role in _MARKABLE or b.kind == "tool_result")


def _implicit(blocks: tuple[CacheBlock, ...]) -> int | None:
    """The end of the latest user or tool message."""
    for i in range(len(blocks) - 1, -1, -1):
        b = blocks[i]
        if b.message_end and (b.role in ("user", "tool") or b.kind == "tool_result"):
            return i
    return None


def _developer_end(blocks: tuple[CacheBlock, ...]) -> int | None:
    """The end of the initial consecutive run of developer (system) messages."""
    end = None
    for i, b in enumerate(blocks):
        if b.role == "tools":
            continue
        if b.role not in _SYSTEM_ROLES:
            break
        end = i
    return end


def _check_breakpoints(blocks: tuple[CacheBlock, ...]) -> list[int]:
    marks = []
    for i, b in enumerate(blocks):
        if b.cache_ttl is None:
            continue
        if b.cache_ttl not in _TTL_SECONDS:
            raise CacheRuleError(
                f"block {i} has breakpoint ttl {b.cache_ttl!r}; GPT-5.6+ accepts '30m' or '12h'",
                rule="ttl",
            )
        if b.role == "assistant":
            raise CacheRuleError(
                f"block {i} is assistant content; prompt_cache_breakpoint goes on user, "
                "system/developer or tool content only",
                rule="assistant_breakpoint",
            )
        marks.append(i)
    return marks


class OpenAIBreakpointCache:
    """Simulates the GPT-5.6+ prompt cache (breakpoints, no prefix fallback).

    Args:
        model: model id (sets the minimum; 1,024 for every GPT-5.6+ model).
        min_tokens: override the minimum cacheable prefix.
        max_writes: new cache entries one request may write (4).
        first_explicit, latest_explicit: explicit breakpoints the lookup
            considers from the start and from the end (2 and 50).
        earlier_endings: earlier eligible message endings the lookup
            considers (20).
        table: registry (or legacy price table) to look ``model`` up in.

    Raises:
        UnknownModelError: ``model`` is in no family the registry knows.
        ValueError: a number is out of range.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> dev = CacheBlock(key="dev", tokens=3000, kind="system", role="developer",
    ...                  cache_ttl="30m")
    >>> q1 = CacheBlock(key="q1", tokens=200, kind="text", role="user")
    >>> q2 = CacheBlock(key="q2", tokens=200, kind="text", role="user")
    >>> cache = OpenAIBreakpointCache()
    >>> a = cache.process(FlatRequest(provider="openai", blocks=(dev, q1)), now=0)
    >>> b = cache.process(FlatRequest(provider="openai", blocks=(dev, q2)), now=60)
    >>> (a.cache_read_tokens, a.cache_write_tokens), (b.cache_read_tokens, b.cache_write_tokens)
    ((0, 3200), (3000, 200))
    """

    def __init__(
        self,
        model: str | None = "gpt-5.6-sol",
        *,
        min_tokens: int | None = None,
        max_writes: int = 4,
        first_explicit: int = 2,
        latest_explicit: int = 50,
        earlier_endings: int = 20,
        table: ModelTable | None = None,
    ) -> None:
        for name, value in (
            ("max_writes", max_writes),
            ("first_explicit", first_explicit),
            ("latest_explicit", latest_explicit),
            ("earlier_endings", earlier_endings),
        ):
            check_count(name, value, allow_none=False)
        self.model = model
        self.min_tokens = resolve_minimum(min_tokens, 1024, model_rules(model, table, "openai"))
        self.max_writes = max_writes
        self.first_explicit = first_explicit
        self.latest_explicit = latest_explicit
        self.earlier_endings = earlier_endings
        self.reset()

    def reset(self) -> None:
        """Forget every cache entry.

        >>> OpenAIBreakpointCache().reset()
        """
        self._table = PrefixEntries()
        self._clock = Clock()

    def _lookups(
        self, blocks: tuple[CacheBlock, ...], marks: list[int], implicit: int | None
    ) -> set[int]:
        """The boundaries a lookup checks, as block indexes."""
        found = set(marks[: self.first_explicit]) | set(marks[-self.latest_explicit :])
        if implicit is not None:
            found.add(implicit)
        limit = implicit if implicit is not None else len(blocks)
        endings = [i for i in range(limit) if _eligible_end(blocks[i])]
        found.update(endings[-self.earlier_endings :])
        dev = _developer_end(blocks)
        if dev is not None:
            found.add(dev)
        return found

    def process(
        self,
        request: FlatRequest,
        *,
        now: float,
        output_tokens: int = 0,
        response_delay: float = 0.0,
    ) -> CacheUsage:
        """Predict ``cached_tokens`` and ``cache_write_tokens`` and update the cache.

        Args:
            request: the flattened request: breakpoints in ``cache_ttl``,
                ``cache_mode`` from ``prompt_cache_options.mode``.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.
            response_delay: seconds until its response begins; what it
                writes is readable from then on (0: at once).

        Returns:
            The predicted usage.

        Raises:
            CacheRuleError: a breakpoint on assistant content or with a TTL
                other than ``"30m"``/``"12h"`` (the API rejects both).
            TypeError: an argument has the wrong type.
            ValueError: time runs backwards.

        >>> from stableprefix import FlatRequest
        >>> OpenAIBreakpointCache().process(FlatRequest(provider="openai"), now=0).input_tokens
        0
        """
        t = self._clock.advance(request, now, output_tokens)
        ready = t + check_delay(response_delay)
        blocks = settled_blocks(request)
        total = request.total_tokens
        marks = _check_breakpoints(blocks)
        implicit = None if request.cache_mode == "explicit" else _implicit(blocks)
        ids = self._table.prefix_ids(blocks)
        cum = list(accumulate(b.tokens for b in blocks))
        hits = [
            i
            for i in self._lookups(blocks, marks, implicit)
            if cum[i] >= self.min_tokens and self._table.readable(ids[i], t)
        ]
        read_at = max(hits, key=lambda i: cum[i], default=-1)
        read = cum[read_at] if read_at >= 0 else 0
        if read_at >= 0:  # reuse keeps the entry alive for another TTL
            self._table.refresh(ids[read_at], t)
        write, write_long = self._write(blocks, marks, implicit, ids, cum, read, t, ready)
        return CacheUsage(
            cache_read_tokens=read,
            cache_write_tokens=write,
            cache_write_1h_tokens=write_long,
            uncached_input_tokens=total - read - write,
            output_tokens=output_tokens,
        )

    def _write(
        self,
        blocks: tuple[CacheBlock, ...],
        marks: list[int],
        implicit: int | None,
        ids: list[int],
        cum: list[int],
        read: int,
        t: float,
        ready: float,
    ) -> tuple[int, int]:
        """Write the longest new breakpoints; return (written, long-TTL written) tokens."""
        ttl_of = {i: blocks[i].cache_ttl or "30m" for i in marks}
        if implicit is not None:
            ttl_of.setdefault(implicit, "30m")
        fresh = [
            i
            for i in sorted(ttl_of, key=lambda i: cum[i], reverse=True)
            if cum[i] >= self.min_tokens and cum[i] > read and not self._table.readable(ids[i], t)
        ][: self.max_writes]
        write = write_long = 0
        for i in fresh:
            seconds = _TTL_SECONDS[ttl_of[i]]
            old = self._table.entries.get(ids[i])
            since = ready if old is None or old[0] < t else min(old[2], ready)
            self._table.entries[ids[i]] = (t + seconds, seconds, since)
            write = max(write, cum[i] - read)
            if ttl_of[i] == "12h":
                write_long = max(write_long, cum[i] - read)
        return write, write_long

    def __repr__(self) -> str:
        return f"OpenAIBreakpointCache(model={self.model!r}, min_tokens={self.min_tokens})"
