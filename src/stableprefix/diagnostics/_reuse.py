"""How many tokens of a request the previous one left reusable, by provider rules.

Approach: given two segmented requests and where they first differ, each
caching mode answers two numbers: what the previous request left in the
cache (its *extent*: the longest entry it wrote) and what the current one
can read back of it. Markers (Anthropic) and breakpoints (GPT-5.6+) decide
which prefixes exist as entries and which ones a request looks up;
automatic caches reuse the longest common prefix. Rules that explain a
shortfall without any change to the prefix (minimum, lookback, TTL,
parallel requests, no breakpoint, missing markers) come back as rule codes
the explanation turns into causes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._rules import ANTHROPIC_LOOKBACK, BREAKPOINT_LOOKBACK, CacheRules
from ._segments import Segment, Segmented

__all__ = ["Reuse", "compute_reuse"]

_CONTENT = ("tools", "system", "messages")
_TOOLISH = ('"type":"tool_use"', '"type":"tool_result"')


@dataclass(frozen=True, slots=True, kw_only=True)
class Reuse:
    """What the previous request left in the cache and what can be read back.

    Attributes:
        extent: tokens of the longest entry the previous request wrote.
        reusable: tokens of the current request readable from those entries.
        rules: rule codes that limited the reuse (e.g. ``"beyond_lookback"``).
        entry_ttl: the TTL (``"5m"``/``"1h"``) of the best entry, if set.
    """

    extent: int
    reusable: int
    rules: tuple[str, ...] = ()
    entry_ttl: str | None = None


def _cum(segs: tuple[Segment, ...]) -> list[int]:
    out, total = [], 0
    for s in segs:
        total += s.tokens
        out.append(total)
    return out


def _markers(req: Segmented) -> list[int]:
    segs = req.segments
    found = [j for j, s in enumerate(segs) if s.marker]
    if req.auto_marker:
        last = max((j for j, s in enumerate(segs) if s.area in _CONTENT), default=None)
        if last is not None and last not in found:
            found.append(last)
    return found


def _position_gap(segs: tuple[Segment, ...], start: int, end: int) -> int:
    """Block positions from ``start`` to ``end`` (a run of tool blocks counts once)."""
    gap, prev = 0, ""
    for s in segs[start + 1 : end + 1]:
        kind = next((k for k in _TOOLISH if k in s.text), "")
        if not (kind and kind == prev):
            gap += 1
        prev = kind
    return gap


def _anthropic(a: Segmented, b: Segmented, common: int, rules: CacheRules) -> Reuse:
    cum = _cum(a.segments)
    writes = [j for j in _markers(a) if cum[j] >= rules.min_tokens]
    reads = _markers(b)
    codes: list[str] = []
    if not _markers(a) or not reads:
        codes.append("marker_missing")
    elif not writes:
        codes.append("below_minimum")
    extent = max((cum[j] for j in writes), default=0)
    valid = [j for j in writes if j < common]
    if not valid or not reads:
        return Reuse(extent=extent, reusable=0, rules=tuple(codes))
    best = max(valid)
    readable = [
        j
        for j in valid
        if any(m >= j and _position_gap(b.segments, j, m) < ANTHROPIC_LOOKBACK for m in reads)
    ]
    if best not in readable:
        far = any(m >= best for m in reads)
        codes.append("beyond_lookback" if far else "marker_moved")
    reusable = max((cum[j] for j in readable), default=0)
    ttl = a.segments[best].ttl
    return Reuse(extent=extent, reusable=reusable, rules=tuple(codes), entry_ttl=ttl)


def _automatic(a: Segmented, b: Segmented, common: int, partial: int, rules: CacheRules) -> Reuse:
    step = rules.step
    total_a = a.total_tokens
    extent = total_a // step * step if total_a >= rules.min_tokens else 0
    shared = sum(s.tokens for s in b.segments[:common]) + partial
    shared = min(shared, total_a)
    if shared < rules.min_tokens:
        codes = ("below_minimum",) if total_a < rules.min_tokens else ()
        return Reuse(extent=extent, reusable=0, rules=codes)
    return Reuse(extent=extent, reusable=shared // step * step)


def _message_ends(req: Segmented) -> dict[int, int]:
    """Message index -> index of its last segment."""
    ends: dict[int, int] = {}
    for j, s in enumerate(req.segments):
        if s.message is not None:
            ends[s.message] = j
    return ends


def _implicit(req: Segmented) -> int | None:
    """The implicit breakpoint: the end of the latest user or tool message."""
    found = None
    for j, s in enumerate(req.segments):
        if s.message is not None and (
            s.role in ("user", "tool", "function_call_output") or "_output" in s.role
        ):
            found = j
    return found


def _lookups(req: Segmented) -> set[int]:
    """GPT-5.6+ lookup boundaries of a request."""
    out = set(j for j, s in enumerate(req.segments) if s.marker)
    implicit = _implicit(req)
    ends = sorted(_message_ends(req).values())
    if implicit is not None:
        out.add(implicit)
        earlier = [e for e in ends if e < implicit]
        out.update(earlier[-BREAKPOINT_LOOKBACK:])
    system = [j for j, s in enumerate(req.segments) if s.area == "system"]
    if system:
        out.add(max(system))
    return out


def _breakpoints(a: Segmented, b: Segmented, common: int, rules: CacheRules) -> Reuse:
    cum = _cum(a.segments)
    implicit = _implicit(a)
    points = [j for j, s in enumerate(a.segments) if s.marker]
    if implicit is not None:
        points.append(implicit)
    writes = [j for j in points if cum[j] >= rules.min_tokens]
    extent = max((cum[j] for j in writes), default=0)
    shared = sum(s.tokens for s in b.segments[:common])
    valid = [j for j in writes if j < common]
    lookups = _lookups(b)
    readable = [j for j in valid if j in lookups]
    reusable = max((cum[j] for j in readable), default=0)
    codes: list[str] = []
    if not writes and a.total_tokens < rules.min_tokens:
        codes.append("below_minimum")
    elif shared >= rules.min_tokens and reusable + rules.min_tokens <= shared:
        codes.append("no_breakpoint")
    return Reuse(extent=extent, reusable=reusable, rules=tuple(codes))


def compute_reuse(
    a: Segmented, b: Segmented, common: int, partial: int, rules: CacheRules
) -> Reuse:
    """Extent of ``a``'s entries and what ``b`` reads of them.

    Args:
        a: the previous request.
        b: the current request.
        common: how many leading segments are equal in both.
        partial: tokens shared inside the first differing segment.
        rules: the provider's cache rules.

    Returns:
        The ``Reuse``.
    """
    if common == 0:
        # The model (or a setting ahead of every block) differs: nothing is shared.
        extent = compute_reuse(a, a, len(a.segments), 0, rules).extent
        return Reuse(extent=extent, reusable=0)
    if rules.mode == "markers":
        return _anthropic(a, b, common, rules)
    if rules.mode == "breakpoints":
        return _breakpoints(a, b, common, rules)
    return _automatic(a, b, common, partial, rules)
