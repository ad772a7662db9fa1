"""llama.cpp server's prompt reuse: slots, slot choice, the host-RAM prompt cache.

Approach: the model replays the server's own bookkeeping, decision by
decision, on token sequences (``Seg`` lists, compared with
``common_prefix``). It follows llama.cpp's ``tools/server`` as built into
xllamacpp 2026.10.11549 (``server-context.cpp`` ``get_available_slot``,
``server-task.cpp`` ``server_prompt_cache``; read 2026-12-01 from
github.com/ggml-org/llama.cpp):

- Each slot keeps the tokens it last evaluated: the prompt and every
  generated token but the last (that one was sampled, never evaluated).
  A request reuses the common prefix with its slot, at most ``n - 1``
  tokens (the last prompt token always runs again).
- Slot choice: among idle slots that hold tokens, the one with the highest
  ``common prefix / new prompt length``, if strictly above
  ``--slot-prompt-similarity`` (default 0.1). Otherwise the least recently
  released idle slot: slots never used come first, ties go to the highest
  id. Busy slots (a request still running) are skipped; when every slot is
  busy the request waits for the first one to finish. ``id_slot`` pins a
  slot (the request waits for it when it is busy).
- The host-RAM prompt cache (``--cache-ram``, on by default with 8192 MiB):
  when a slot is taken by the LRU fallback, or by similarity while keeping
  less than half of its tokens (``f_keep < 0.5``), the slot's tokens are
  saved to the cache, and the cached prompt that keeps more of itself
  (``f_keep``) and covers more of the new prompt (``f_sim``) than the slot
  does, both strictly, and keeps at least a quarter of itself, is restored
  into the slot (and leaves the cache). A save is skipped when a cached
  prompt already contains the tokens and drops cached prompts that the new
  one contains. With ``--cache-idle-slots`` (on by default) every idle slot
  is saved when another request starts; with a unified KV cache it is
  also cleared. The oldest entries are evicted first when the cache is full
  (a token budget here; the server counts bytes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._blocks import FlatRequest
from .._usage import CacheUsage
from ._base import Clock, check_count
from ._trie import Seg, common_prefix, segments

__all__ = ["LlamaCppCache"]

_NEVER = (-math.inf, -1)  # release stamp of a slot never used: before everything


def _size(tokens: Sequence[Seg]) -> int:
    return sum(s.length for s in tokens)


class _Slot:
    __slots__ = ("busy_until", "released", "tokens")

    def __init__(self) -> None:
        self.tokens: list[Seg] = []
        self.busy_until = -math.inf
        self.released: tuple[float, int] = _NEVER


class LlamaCppCache:
    """llama.cpp server: slots that reuse their last prompt, and a RAM prompt cache.

    Defaults match a server started with only a model and ``--parallel``:
    similarity 0.1, the host-RAM prompt cache on, idle slots saved to it,
    no unified KV cache (``xllamacpp`` and ``llama-server -np N`` with an
    explicit ``N``; ``-np -1`` picks 4 slots and a unified KV cache).

    Args:
        slots: parallel slots (``--parallel``).
        similarity: ``--slot-prompt-similarity``; ``0`` turns the
            similarity choice off (LRU only).
        ram_cache: whether the host-RAM prompt cache is on (``--cache-ram``
            other than 0).
        ram_cache_tokens: tokens the RAM cache holds before it evicts its
            oldest prompts; ``None``: unbounded (8 GiB holds a great many
            prompts of a small model).
        cache_idle_slots: ``--cache-idle-slots``: idle slots are saved to the
            RAM cache whenever a request starts.
        unified_kv: ``--kv-unified``: idle slots are also cleared after the
            save, so a conversation comes back from the RAM cache.

    Raises:
        ValueError: a count is not an int >= 1, or ``similarity`` is not
            between 0 and 1.
        TypeError: a flag is not a bool.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> def req(*keys):
    ...     return FlatRequest(provider="local", blocks=tuple(
    ...         CacheBlock(key=k, tokens=50, kind="text", role="user") for k in keys))
    >>> one = LlamaCppCache()
    >>> [one.process(req(k), now=0).cache_read_tokens for k in "aba"]
    [0, 0, 49]
    >>> off = LlamaCppCache(ram_cache=False)
    >>> [off.process(req(k), now=0).cache_read_tokens for k in "aba"]
    [0, 0, 0]
    >>> three = LlamaCppCache(slots=3, ram_cache=False)
    >>> [(three.process(req(k), now=0).cache_read_tokens, three.last_slot) for k in "aba"]
    [(0, 2), (0, 1), (49, 2)]
    """

    def __init__(
        self,
        slots: int = 1,
        *,
        similarity: float = 0.1,
        ram_cache: bool = True,
        ram_cache_tokens: int | None = None,
        cache_idle_slots: bool = True,
        unified_kv: bool = False,
    ) -> None:
        check_count("slots", slots, allow_none=False)
        check_count("ram_cache_tokens", ram_cache_tokens)
        if (
            isinstance(similarity, bool)
            or not isinstance(similarity, (int, float))
            or not 0 <= similarity <= 1
        ):
            raise ValueError(f"similarity must be between 0 and 1, got {similarity!r}")
        for name, flag in (
            ("ram_cache", ram_cache),
            ("cache_idle_slots", cache_idle_slots),
            ("unified_kv", unified_kv),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        self.slots = slots
        self.similarity = float(similarity)
        self.ram_cache = ram_cache
        self.ram_cache_tokens = ram_cache_tokens
        # The server turns idle-slot saving off when there is no RAM cache.
        self.cache_idle_slots = cache_idle_slots and ram_cache
        self.unified_kv = unified_kv
        self.reset()

    def reset(self) -> None:
        """Empty every slot and the RAM cache.

        >>> LlamaCppCache().reset()
        """
        self._slots = [_Slot() for _ in range(self.slots)]
        self._ram: list[list[Seg]] = []
        self._tick = 0
        self._clock = Clock()
        #: The slot that served the last request (``None`` before the first).
        self.last_slot: int | None = None

    # ------------------------------------------------------------ RAM cache

    def _save(self, tokens: list[Seg]) -> None:
        n = _size(tokens)
        if not self.ram_cache or n == 0:
            return
        if any(common_prefix(entry, tokens) == n for entry in self._ram):
            return  # already held by a cached prompt
        self._ram = [e for e in self._ram if common_prefix(e, tokens) != _size(e)]
        self._ram.append(list(tokens))
        if self.ram_cache_tokens is not None:
            while self._ram and sum(_size(e) for e in self._ram) > self.ram_cache_tokens:
                self._ram.pop(0)

    def _load(self, slot: _Slot, new: list[Seg], total: int) -> None:
        held = _size(slot.tokens)
        lcp = common_prefix(slot.tokens, new)
        keep_best = lcp / held if held else -1.0
        sim_best = lcp / total
        best = None
        for i, entry in enumerate(self._ram):
            cur = common_prefix(entry, new)
            keep = cur / _size(entry)
            if keep < 0.25:
                continue  # restoring it would throw most of it away
            if keep_best < keep and sim_best < cur / total:
                keep_best, sim_best, best = keep, cur / total, i
        if best is not None:
            slot.tokens = self._ram.pop(best)

    # ------------------------------------------------------------ slot choice

    def _choose(self, new: list[Seg], total: int, now: float, pinned: int | None) -> int:
        idle = [s.busy_until <= now for s in self._slots]
        chosen = pinned
        update = False
        if self.similarity > 0:
            best = 0.0
            found = None
            for i, slot in enumerate(self._slots):
                if (pinned is not None and i != pinned) or not idle[i] or not slot.tokens:
                    continue
                sim = common_prefix(slot.tokens, new) / total if total else 0.0
                if sim > best and sim > self.similarity:
                    best, found = sim, i
            if found is not None:
                chosen = found
            if chosen is not None and self._slots[chosen].tokens:
                # A pinned slot that fails the threshold keeps nothing (f_keep 0).
                update = best * total / _size(self._slots[chosen].tokens) < 0.5
        if chosen is None:
            stamp = None
            for i, slot in enumerate(self._slots):
                if idle[i] and (stamp is None or slot.released <= stamp):
                    chosen, stamp = i, slot.released
            update = True
        assert chosen is not None  # at least one slot is idle (see process)
        if update and self.ram_cache and total:
            slot = self._slots[chosen]
            self._save(slot.tokens)
            self._load(slot, new, total)
        return chosen

    # ------------------------------------------------------------ requests

    def _start_time(self, now: float, pinned: int | None) -> float:
        """When the request gets a slot: now, or when the first (or its pinned) slot frees."""
        if pinned is not None:
            return max(now, self._slots[pinned].busy_until)
        return max(now, min(s.busy_until for s in self._slots))

    def process(
        self,
        request: FlatRequest,
        *,
        now: float,
        output_tokens: int = 0,
        output_token_ids: Sequence[int] | None = None,
        done_at: float | None = None,
        slot: int | None = None,
    ) -> CacheUsage:
        """Predict the usage of ``request`` and keep its tokens in its slot.

        Args:
            request: the flattened request.
            now: when it reaches the server, in seconds (non-decreasing).
            output_tokens: generated tokens, copied into the usage.
            output_token_ids: the generated token ids, when known. The slot
                keeps them after the prompt (all but the last), so a next
                request that sends the reply back reuses them too.
            done_at: when its answer is complete; until then its slot is busy
                and other requests go elsewhere. ``None``: before the next
                request arrives (requests one at a time).
            slot: the slot the request pins (``id_slot``), or ``None``.

        Returns:
            The predicted usage; ``last_slot`` says which slot served it.

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: time runs backwards, ``done_at`` is before ``now``, or
                ``slot`` is not one of the slots.

        >>> from stableprefix import FlatRequest
        >>> LlamaCppCache().process(FlatRequest(provider="local"), now=0).cache_read_tokens
        0
        """
        now = self._clock.advance(request, now, output_tokens)
        if done_at is not None and (
            isinstance(done_at, bool) or not isinstance(done_at, (int, float)) or done_at < now
        ):
            raise ValueError(f"done_at must be a number >= now ({now}), got {done_at!r}")
        if slot is not None and (
            isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < self.slots
        ):
            raise ValueError(f"slot must be an int from 0 to {self.slots - 1}, got {slot!r}")
        start = self._start_time(now, slot)
        new = segments(request)
        total = request.total_tokens
        for s in self._slots:  # slots whose request finished by now are idle again
            if s.busy_until <= start and s.busy_until > -math.inf:
                s.busy_until = -math.inf
        index = self._choose(new, total, start, slot)
        chosen = self._slots[index]
        hit = min(common_prefix(chosen.tokens, new), max(total - 1, 0))
        kept = tuple(int(t) for t in (output_token_ids or ())[:-1])
        chosen.tokens = [*new, Seg("output", 0, len(kept), kept)] if kept else new
        end = start if done_at is None else max(float(done_at), start)
        self._tick += 1
        chosen.released = (end, self._tick)
        chosen.busy_until = end if done_at is not None and end > start else -math.inf
        if self.cache_idle_slots:
            self._save_idle(index, start)
        self.last_slot = index
        return CacheUsage(
            cache_read_tokens=hit, uncached_input_tokens=total - hit, output_tokens=output_tokens
        )

    def _save_idle(self, launched: int, now: float) -> None:
        for i, slot in enumerate(self._slots):
            if i == launched or slot.busy_until > now or not slot.tokens:
                continue
            self._save(slot.tokens)
            if self.unified_kv:
                slot.tokens = []

    def __repr__(self) -> str:
        return (
            f"LlamaCppCache(slots={self.slots}, similarity={self.similarity}, "
            f"ram_cache={self.ram_cache}, ram_cache_tokens={self.ram_cache_tokens!r}, "
            f"cache_idle_slots={self.cache_idle_slots}, unified_kv={self.unified_kv})"
        )
