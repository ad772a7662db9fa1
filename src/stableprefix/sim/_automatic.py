"""Automatic prefix caches of hosted APIs: OpenAI and Gemini (implicit).

Approach: both cache without markers. OpenAI routes each request to a
machine chosen by a hash of the prompt's first ~256 tokens together with
``prompt_cache_key``; only that machine's cache can answer, so requests
that share a long prefix but differ in the key (or in the first tokens)
never hit each other. We give every route its own cache (``machines=None``)
or hash routes onto a fixed pool of machines that they then share. When
one route receives more than about 15 requests a minute the surplus
overflows to further machines, each of which starts cold. A hit is the
common prefix with a live cached prompt on that machine, counted in steps
of 128 tokens once it reaches 1024; prompts under 1024 tokens are neither
read nor stored. Cached prefixes expire after an idle time (5 to 10
minutes in memory; up to 24 hours with extended retention).

Gemini's implicit cache works the same way without routing keys or steps:
the common prefix counts when it reaches the model's minimum.

Both use ``TokenTrie`` with a time-to-live, so a request is matched token
by token when its blocks carry ``token_ids`` and block by block otherwise.
What a request adds becomes readable when its response begins
(``response_delay``); until then its insert waits in a queue, so requests
sent in parallel on a cold prefix all miss. Request settings the cache
depends on (``FlatRequest.settings``) are folded into the prefix.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from itertools import count

from .._blocks import FlatRequest
from .._usage import CacheUsage
from ._base import (
    Clock,
    ModelTable,
    check_count,
    check_delay,
    check_positive,
    model_rules,
    resolve_minimum,
    settled_blocks,
)
from ._trie import Match, Seg, TokenTrie, segments

__all__ = ["GeminiCache", "OpenAICache"]

# Idle lifetimes by retention. In memory: "5 to 10 minutes of inactivity"
# (the low end). Extended: "typically keeps entries available for around 30
# minutes and can retain them for up to 24 hours" (O-PC, 2026-09-26 copy):
# the typical 30 minutes, not the 24-hour maximum.
_RETENTION = {"in_memory": 300.0, "24h": 1800.0}
_WINDOW = 60.0  # seconds over which the overflow rate is counted


class _Deferred:
    """Inserts that become visible when their request's response begins."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TokenTrie, list[Seg]]] = []
        self._seq = count()

    def flush(self, now: float) -> None:
        """Apply every insert due by ``now``, in the order they became due."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            ready, _, trie, segs = heapq.heappop(heap)
            trie.insert(segs, trie.match(segs, ready), ready)

    def add(self, trie: TokenTrie, segs: list[Seg], m: Match, now: float, ready: float) -> None:
        """Insert now, or (refreshing what was read) once ``ready`` comes."""
        if ready <= now:
            trie.insert(segs, m, now)
            return
        trie.touch(m, now)
        heapq.heappush(self._heap, (ready, next(self._seq), trie, segs))


def _segments(request: FlatRequest) -> list[Seg]:
    if not request.settings:
        return segments(request)
    return segments(replace(request, blocks=settled_blocks(request)))


def _route_digest(segs: Sequence[Seg], limit: int) -> str:
    """A stable hash of the first ``limit`` tokens."""
    h = hashlib.blake2b(digest_size=12)
    left = limit
    for s in segs:
        if left <= 0:
            break
        take = min(left, s.length)
        if s.ids is not None:
            h.update(repr(s.ids[:take]).encode())
        else:
            h.update(f"{s.key}:{s.start}:{take};".encode())
        left -= take
    return h.hexdigest()


class OpenAICache:
    """Simulates OpenAI's automatic prompt caching for one model.

    Args:
        model: model id (sets the minimum, the default retention and
            whether writes are reported: only for models that charge for
            them). This model is the rule of models before GPT-5.6; for
            GPT-5.6 and later use ``OpenAIBreakpointCache`` (or
            ``cache_for_model``, which picks it).
        min_tokens: override the minimum prompt length (1024).
        retention: ``"in_memory"`` (idle TTL 300 s, the low end of the
            documented 5 to 10 minutes) or ``"24h"`` (extended retention,
            typically about 30 minutes idle). ``None``: the model's default
            in the registry (``24h`` for models that support it: the
            default of organisations without Zero Data Retention), else
            ``in_memory``.
        idle_ttl: override the idle time-to-live, in seconds.
        machines: size of the machine pool routes are hashed onto;
            ``None`` gives every route its own machine.
        overflow_rpm: requests per minute one route may send before the
            rest overflow to other machines (about 15 per the docs);
            ``None`` disables overflow.
        routing_tokens: leading tokens hashed for routing (256).
        step: hits are counted in multiples of this many tokens; ``None``:
            the model's breakpoint interval from the registry (GPT-5.5:
            "regular 2,048-token intervals"), else 128.
        table: registry (or legacy price table) to look ``model`` up in.

    Raises:
        UnknownModelError: ``model`` is in no family the registry knows.
        ValueError: an option is out of range, or ``retention`` is one the
            model does not accept.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> sys = CacheBlock(key="sys", tokens=1500, kind="system", role="system")
    >>> q = CacheBlock(key="q", tokens=30, kind="text", role="user")
    >>> req = FlatRequest(provider="openai", blocks=(sys, q), routing_key="conv-1")
    >>> cache = OpenAICache(model="gpt-5")
    >>> [cache.process(req, now=t).cache_read_tokens for t in (0, 10)]
    [0, 1408]
    """

    def __init__(
        self,
        model: str | None = "gpt-5",
        *,
        min_tokens: int | None = None,
        retention: str | None = None,
        idle_ttl: float | None = None,
        machines: int | None = None,
        overflow_rpm: float | None = 15,
        routing_tokens: int = 256,
        step: int | None = None,
        table: ModelTable | None = None,
    ) -> None:
        info = model_rules(model, table, "openai")
        if retention is None:
            retention = info.retention if info is not None else None
            retention = retention if retention in _RETENTION else "in_memory"
        if retention not in _RETENTION:
            raise ValueError(f"retention must be 'in_memory' or '24h', got {retention!r}")
        if (
            info is not None
            and info.exact
            and info.retention_options
            and (retention not in info.retention_options)
        ):
            raise ValueError(
                f"model {model!r} accepts retention {', '.join(info.retention_options)}, "
                f"not {retention!r}"
            )
        check_positive("idle_ttl", idle_ttl)
        check_count("machines", machines)
        check_positive("overflow_rpm", overflow_rpm)
        check_count("routing_tokens", routing_tokens, allow_none=False)
        check_count("step", step)
        self.model = model
        self.min_tokens = resolve_minimum(min_tokens, 1024, info)
        prices = None if info is None else info.prices
        self.reports_writes = prices is not None and prices.charges_writes
        self.retention = retention
        self.idle_ttl = float(idle_ttl) if idle_ttl is not None else _RETENTION[retention]
        self.machines = machines
        self.overflow_rpm = overflow_rpm
        self.routing_tokens = routing_tokens
        model_step = info.cache_step if info is not None else None
        self.step: int = step if step is not None else (model_step or 128)
        self.reset()

    def reset(self) -> None:
        """Empty every machine's cache.

        >>> OpenAICache().reset()
        """
        self._caches: dict[object, TokenTrie] = {}
        self._recent: dict[tuple[str, str | None], deque[float]] = {}
        self._deferred = _Deferred()
        self._clock = Clock()

    def _machine(self, segs: Sequence[Seg], key: str | None, now: float) -> object:
        digest = _route_digest(segs, self.routing_tokens)
        spill = 0
        if self.overflow_rpm is not None:
            times = self._recent.setdefault((digest, key), deque())
            while times and now - times[0] >= _WINDOW:
                times.popleft()
            spill = int(len(times) // self.overflow_rpm)
            times.append(now)
        if self.machines is None:
            return (digest, key, spill)
        seed = hashlib.blake2b(f"{digest}|{key}".encode(), digest_size=8).digest()
        return (int.from_bytes(seed, "big") + spill) % self.machines

    def process(
        self,
        request: FlatRequest,
        *,
        now: float,
        output_tokens: int = 0,
        response_delay: float = 0.0,
    ) -> CacheUsage:
        """Predict ``cached_tokens`` for ``request`` and update the cache.

        Args:
            request: the flattened request; ``routing_key`` is the
                ``prompt_cache_key``.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.
            response_delay: seconds until its response begins; what it
                adds to the cache is readable from then on (0: at once).

        Returns:
            The predicted usage: reads in 128-token steps, no writes unless
            the model charges for them.

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: time runs backwards.

        >>> from stableprefix import FlatRequest
        >>> OpenAICache().process(FlatRequest(provider="openai"), now=0).input_tokens
        0
        """
        t = self._clock.advance(request, now, output_tokens)
        ready = t + check_delay(response_delay)
        self._deferred.flush(t)
        segs = _segments(request)
        total = request.total_tokens
        machine = self._machine(segs, request.routing_key, t)
        trie = self._caches.get(machine)
        if trie is None:
            trie = self._caches[machine] = TokenTrie(ttl=self.idle_ttl)
        if total < self.min_tokens:
            return CacheUsage(uncached_input_tokens=total, output_tokens=output_tokens)
        m = trie.match(segs, t)
        hit = m.tokens // self.step * self.step
        if hit < self.min_tokens:
            hit = 0
        self._deferred.add(trie, segs, m, t, ready)
        write = total - hit if self.reports_writes else 0
        return CacheUsage(
            cache_read_tokens=hit,
            cache_write_tokens=write,
            uncached_input_tokens=total - hit - write,
            output_tokens=output_tokens,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAICache(model={self.model!r}, retention={self.retention!r}, "
            f"machines={self.machines!r}, overflow_rpm={self.overflow_rpm!r})"
        )


class GeminiCache:
    """Simulates Gemini's implicit caching for one model.

    The hit is the common prefix with a live cached prompt, once it reaches
    the model's minimum; reads are billed at the discounted rate, nothing
    is billed for writing. Explicit ``cachedContents`` are not simulated.

    Args:
        model: model id (sets the minimum: 4,096 for the 3.x families and
            unknown newer ids, 2,048 for 2.5 Flash/Pro).
        min_tokens: override the minimum.
        idle_ttl: seconds a cached prefix survives without use. Google
            documents no number for implicit caching; 300 s is an assumption.
        table: registry (or legacy price table) to look ``model`` up in.

    Raises:
        UnknownModelError: ``model`` is in no family the registry knows.
        ValueError: an option is out of range.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> doc = CacheBlock(key="doc", tokens=3000, kind="text", role="user")
    >>> q = CacheBlock(key="q", tokens=40, kind="text", role="user")
    >>> req = FlatRequest(provider="gemini", blocks=(doc, q))
    >>> cache = GeminiCache(model="gemini-2.5-flash")
    >>> [cache.process(req, now=t).cache_read_tokens for t in (0, 5)]
    [0, 3040]
    """

    def __init__(
        self,
        model: str | None = "gemini-2.5-flash",
        *,
        min_tokens: int | None = None,
        idle_ttl: float = 300.0,
        table: ModelTable | None = None,
    ) -> None:
        check_positive("idle_ttl", idle_ttl, allow_none=False)
        self.model = model
        self.min_tokens = resolve_minimum(min_tokens, 2048, model_rules(model, table, "gemini"))
        self.idle_ttl = float(idle_ttl)
        self.reset()

    def reset(self) -> None:
        """Empty the cache.

        >>> GeminiCache().reset()
        """
        self._trie = TokenTrie(ttl=self.idle_ttl)
        self._deferred = _Deferred()
        self._clock = Clock()

    def process(
        self,
        request: FlatRequest,
        *,
        now: float,
        output_tokens: int = 0,
        response_delay: float = 0.0,
    ) -> CacheUsage:
        """Predict ``cached_content_token_count`` and update the cache.

        Args:
            request: the flattened request.
            now: the time it is sent, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.
            response_delay: seconds until its response begins; what it
                adds to the cache is readable from then on (0: at once).

        Returns:
            The predicted usage.

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: time runs backwards.

        >>> from stableprefix import FlatRequest
        >>> GeminiCache().process(FlatRequest(provider="gemini"), now=0).input_tokens
        0
        """
        t = self._clock.advance(request, now, output_tokens)
        ready = t + check_delay(response_delay)
        self._deferred.flush(t)
        total = request.total_tokens
        if total < self.min_tokens:
            return CacheUsage(uncached_input_tokens=total, output_tokens=output_tokens)
        segs = _segments(request)
        m = self._trie.match(segs, t)
        hit = m.tokens if m.tokens >= self.min_tokens else 0
        self._deferred.add(self._trie, segs, m, t, ready)
        return CacheUsage(
            cache_read_tokens=hit, uncached_input_tokens=total - hit, output_tokens=output_tokens
        )

    def __repr__(self) -> str:
        return f"GeminiCache(model={self.model!r}, idle_ttl={self.idle_ttl})"
