"""Token sequences without materialising tokens, and a prefix tree over them.

Approach: a token-level cache must compare requests token by token, but a
flattened request usually carries only block keys and token counts. A block
without ``token_ids`` stands for pseudo-tokens ``(key, 0) .. (key, n-1)``:
two requests share a block's tokens exactly when the keys are equal, and a
pseudo-token never equals a real token id. This is conservative: a real
tokenizer could find common tokens at the start of two different blocks
(two system prompts that differ only in a trailing timestamp), which the
simulation then counts as a miss. Blocks that carry ``token_ids`` are
compared id by id, also across block boundaries.

A ``Seg`` is a slice of one block's tokens, so the pseudo-tokens are never
built: comparing two slices is one key comparison. ``TokenTrie`` is a radix
tree whose edges are such slices; a walk costs one dict lookup per block,
which keeps 10k requests of 200 blocks within seconds. The tree serves
every token-level model: unbounded (ideal radix cache), with a capacity and
least-recently-used eviction in units of ``unit`` tokens (1 for a radix
cache, 16 for vLLM's blocks), or with an idle time-to-live (provider caches).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from itertools import count

from .._blocks import FlatRequest

__all__ = ["Match", "Seg", "TokenTrie", "common_prefix", "segments"]


class Seg:
    """``length`` tokens of one block, starting at token ``start`` of it."""

    __slots__ = ("ids", "key", "length", "start")

    def __init__(self, key: str, start: int, length: int, ids: tuple[int, ...] | None) -> None:
        self.key = key
        self.start = start
        self.length = length
        self.ids = ids

    def sig(self, offset: int) -> object:
        """What the token at ``offset`` is, as a dict key."""
        if self.ids is not None:
            return self.ids[offset]
        return (self.key, self.start + offset)

    def cut(self, begin: int, end: int) -> Seg:
        """The tokens ``begin`` to ``end`` of this slice, as a new slice."""
        ids = None if self.ids is None else self.ids[begin:end]
        return Seg(self.key, self.start + begin, end - begin, ids)


def segments(request: FlatRequest) -> list[Seg]:
    """The request's tokens as one slice per non-empty block."""
    return [Seg(b.key, 0, b.tokens, b.token_ids) for b in request.blocks if b.tokens]


def _lcp(a: Seg, ao: int, b: Seg, bo: int) -> int:
    """Common tokens of ``a`` from ``ao`` and ``b`` from ``bo``."""
    n = min(a.length - ao, b.length - bo)
    if a.ids is None or b.ids is None:
        if a.ids is None and b.ids is None and a.key == b.key and a.start + ao == b.start + bo:
            return n
        return 0
    x, y = a.ids, b.ids
    if x[ao : ao + n] == y[bo : bo + n]:
        return n
    i = 0
    while x[ao + i] == y[bo + i]:
        i += 1
    return i


def common_prefix(a: Sequence[Seg], b: Sequence[Seg]) -> int:
    """Tokens the two sequences have in common from the start."""
    i = j = ao = bo = total = 0
    while i < len(a) and j < len(b):
        n = _lcp(a[i], ao, b[j], bo)
        total += n
        ao += n
        bo += n
        if ao < a[i].length and bo < b[j].length:
            break
        if ao == a[i].length:
            i, ao = i + 1, 0
        if bo == b[j].length:
            j, bo = j + 1, 0
    return total


class _Node:
    __slots__ = ("alive", "children", "end", "parent", "seg", "tick", "used")

    def __init__(self, parent: _Node | None, seg: Seg | None, end: int) -> None:
        self.parent = parent
        self.seg = seg
        self.end = end
        self.children: dict[object, _Node] = {}
        self.tick = 0
        self.used = 0.0
        self.alive = True


class Match:
    """Where a walk stopped: ``tokens`` matched, ending ``into`` tokens inside
    ``edge`` below ``node`` (or at ``node`` when ``edge`` is None), with the
    query resumed at segment ``index``, token ``offset``."""

    __slots__ = ("edge", "index", "into", "node", "offset", "path", "tokens")

    def __init__(self, node: _Node) -> None:
        self.node = node
        self.edge: _Node | None = None
        self.into = 0
        self.index = 0
        self.offset = 0
        self.tokens = 0
        self.path: list[_Node] = []


class TokenTrie:
    """A radix tree of token sequences with optional LRU capacity or TTL.

    Args:
        capacity: the most units kept (``None``: unbounded).
        unit: tokens per unit; only complete units count and are kept
            (1 = tokens, 16 = vLLM blocks).
        ttl: seconds a node stays alive after its last use (``None``: forever).
        truncate: evict a leaf unit by unit (vLLM) instead of whole (radix).
    """

    def __init__(
        self,
        *,
        capacity: int | None = None,
        unit: int = 1,
        ttl: float | None = None,
        truncate: bool = False,
    ) -> None:
        self.capacity = capacity
        self.unit = unit
        self.ttl = ttl
        self.truncate = truncate
        self.root = _Node(None, None, 0)
        self.size = 0
        self.tick = 0
        self._heap: list[tuple[int, int, _Node]] = []
        self._seq = count()

    # ---------------------------------------------------------------- lookup

    def match(self, segs: Sequence[Seg], now: float) -> Match:
        """Walk ``segs`` down the tree as far as live nodes agree."""
        m = Match(self.root)
        node, edge, into, total = self.root, None, 0, 0
        path = m.path
        i = off = 0
        n = len(segs)
        ttl = self.ttl
        while i < n:
            q = segs[i]
            if edge is None:
                qids = q.ids
                child = node.children.get((q.key, q.start + off) if qids is None else qids[off])
                if child is None:
                    break
                if ttl is not None and now - child.used > ttl:
                    self._drop(child)
                    break
                edge, into = child, 0
                seg = child.seg
                assert seg is not None
                if qids is None and seg.ids is None:
                    # Equal signatures mean equal key and start: the pseudo
                    # tokens agree for as long as both slices run.
                    k = min(q.length - off, seg.length)
                else:
                    k = _lcp(q, off, seg, 0)
            else:
                seg = edge.seg
                assert seg is not None
                k = _lcp(q, off, seg, into)
            if k == 0:
                break
            total += k
            off += k
            into += k
            if into == seg.length:
                node, edge, into = edge, None, 0
                path.append(node)
            if off == q.length:
                i, off = i + 1, 0
        m.node, m.edge, m.into, m.index, m.offset, m.tokens = node, edge, into, i, off, total
        if edge is not None and into == 0:
            m.edge = None
        return m

    # ----------------------------------------------------------------- update

    def _cost(self, start: int, end: int) -> int:
        u = self.unit
        return end // u - start // u

    def touch(self, m: Match, now: float) -> None:
        """Mark the fully matched nodes as used now."""
        self.tick += 1
        for node in m.path:
            node.tick = self.tick
            node.used = now
        if m.path and not m.path[-1].children:
            self._push(m.path[-1])

    def insert(self, segs: Sequence[Seg], m: Match, now: float) -> None:
        """Add the unmatched rest of ``segs`` after a ``match`` of them."""
        self.touch(m, now)
        node = m.node
        if m.edge is not None:
            node = self._split(m.edge, m.into, now)
        i, off = m.index, m.offset
        created = False
        while i < len(segs):
            q = segs[i]
            seg = q if off == 0 else q.cut(off, q.length)
            child = _Node(node, seg, node.end + seg.length)
            child.tick, child.used = self.tick, now
            node.children[seg.sig(0)] = child
            self.size += self._cost(node.end, child.end)
            node, i, off, created = child, i + 1, 0, True
        if created:
            self._push(node)
        if self.capacity is not None and self.size > self.capacity:
            self._evict(self.size - self.capacity)

    def _split(self, edge: _Node, into: int, now: float) -> _Node:
        seg, parent = edge.seg, edge.parent
        assert seg is not None and parent is not None
        mid = _Node(parent, seg.cut(0, into), parent.end + into)
        mid.tick, mid.used = self.tick, now
        parent.children[seg.sig(0)] = mid
        rest = seg.cut(into, seg.length)
        edge.seg, edge.parent = rest, mid
        mid.children[rest.sig(0)] = edge
        return mid

    # --------------------------------------------------------------- eviction

    def _push(self, node: _Node) -> None:
        if self.capacity is not None:
            heapq.heappush(self._heap, (node.tick, next(self._seq), node))

    def _unlink(self, node: _Node) -> None:
        parent, seg = node.parent, node.seg
        assert parent is not None and seg is not None
        del parent.children[seg.sig(0)]
        if parent is not self.root and not parent.children:
            self._push(parent)

    def _drop(self, top: _Node) -> None:
        """Remove ``top`` and everything below it."""
        self._unlink(top)
        stack = [top]
        while stack:
            node = stack.pop()
            node.alive = False
            self.size -= self._cost(node.end - (node.seg.length if node.seg else 0), node.end)
            stack.extend(node.children.values())

    def _evict(self, need: int) -> None:
        heap = self._heap
        while need > 0 and heap:
            tick, _, node = heapq.heappop(heap)
            if not node.alive or node.children or node.tick != tick or node.seg is None:
                continue
            start = node.end - node.seg.length
            have = self._cost(start, node.end)
            if self.truncate and have > need:
                keep = (node.end // self.unit - need) * self.unit
                node.seg = node.seg.cut(0, keep - start)
                node.end = keep
                self.size -= need
                heapq.heappush(heap, (tick, next(self._seq), node))
                return
            self._drop(node)
            need -= have
