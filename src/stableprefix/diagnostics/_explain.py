"""Explain why a request did not reuse what the previous one cached.

Approach: cut both requests into segments in the provider's cache order,
find the first segment whose text differs and the first differing character
in it, and price what was lost. The provider's rules then say how much the
previous request had actually cached and how much of it this one can read
(markers and their lookback, breakpoints, minimums, TTL, parallel sends);
a shortfall the prefix does not explain becomes an *expected* cause. Pure:
times and the knowledge of a compaction are passed in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..models import ModelInfo
from ..pricing import ModelPrices
from ._causes import classify, rule_cause
from ._report import Cause, Divergence, Explanation
from ._reuse import compute_reuse
from ._rules import CacheRules, resolve_adapter, rules_for, ttl_of
from ._segments import Segmented, segment_request

__all__ = ["explain", "explain_segmented"]

_SHOW = 60


def _chars_per_token(text: str) -> int:
    return max(1, len(text) // 4)


def _first_difference(a: Segmented, b: Segmented) -> int:
    n = min(len(a.segments), len(b.segments))
    for i in range(n):
        if a.segments[i].text != b.segments[i].text:
            return i
    return n


def _common_chars(x: str, y: str) -> int:
    n = min(len(x), len(y))
    i = 0
    while i < n and x[i] == y[i]:
        i += 1
    return i


def _divergence(
    a: Segmented, b: Segmented, index: int, count: Callable[[str], int]
) -> tuple[Divergence, int]:
    """The divergence at segment ``index`` and the tokens shared inside it."""
    sa = a.segments[index] if index < len(a.segments) else None
    sb = b.segments[index] if index < len(b.segments) else None
    seg = sb if sb is not None else sa
    assert seg is not None
    before_tokens = sum(s.tokens for s in b.segments[:index])
    chars = _common_chars(sa.text, sb.text) if sa is not None and sb is not None else 0
    partial = 0
    if sa is not None and sb is not None and chars and sb.tokens > 1:
        if sa.body is not None and sb.body is not None:
            shared = sb.body[: _common_chars(sa.body, sb.body)]
        else:
            shared = sb.text[:chars]
        partial = min(sb.tokens - 1, count(shared)) if shared else 0
    # Show the changed spans from the start of the differing word (in the
    # plain text when both are text blocks, so no JSON escapes show).
    ta = sa.text if sa is not None else ""
    tb = sb.text if sb is not None else ""
    if sa is not None and sb is not None and sa.body is not None and sb.body is not None:
        ta, tb = sa.body, sb.body
    start = _common_chars(ta, tb)
    ref = tb or ta
    while start > 0 and not ref[start - 1].isspace() and ref[start - 1] not in '"':
        start -= 1
    old, new = ta[start:], tb[start:]
    tail = _common_chars(old[::-1], new[::-1])
    old_span = _to_word_end(old, len(old) - tail)
    new_span = _to_word_end(new, len(new) - tail)
    path = seg.path
    if seg.area == "settings" and sa is not None and sb is not None:
        path = _settings_path(sa.text, sb.text, seg.path)
    div = Divergence(
        path=path,
        area=seg.area,
        message=seg.message,
        token_offset=before_tokens + partial,
        char_offset=chars,
        before=old_span[:_SHOW],
        after=new_span[:_SHOW],
    )
    return div, partial


def _to_word_end(text: str, end: int) -> str:
    """``text[:end]`` extended to the end of the word it stops in."""
    while end < len(text) and not text[end].isspace() and text[end] not in '",.;':
        end += 1
    return text[:end]


def _settings_path(before: str, after: str, path: str) -> str:
    """``$.tool_choice`` rather than ``$.settings``: the first setting that changed."""
    old, new = json.loads(before), json.loads(after)
    changed = [k for k in (*new, *old) if old.get(k) != new.get(k)]
    return path.rsplit("settings", 1)[0] + changed[0] if changed else path


def _verdict(causes: list[Cause], divergence: Divergence | None) -> str:
    kinds = {c.kind for c in causes}
    if "bust" in kinds:
        return "bust"
    if "planned" in kinds:
        return "planned"
    if "expected" in kinds:
        return "expected_miss"
    return "no_change"


def _miss_cost(tokens: int, prices: ModelPrices | None) -> float | None:
    if prices is None:
        return None
    paid = prices.write_price("5m") if prices.charges_writes else prices.input
    return round(tokens * (paid - prices.cache_read) / 1_000_000, 9)


def explain_segmented(
    a: Segmented,
    b: Segmented,
    rules: CacheRules,
    *,
    gap_seconds: float | None = None,
    concurrent: bool = False,
    compaction: bool | None = None,
    retention: object = None,
    count: Callable[[str], int] = _chars_per_token,
) -> Explanation:
    """``explain`` on requests already cut into segments (see ``explain``)."""
    index = _first_difference(a, b)
    same = index == len(a.segments) == len(b.segments)
    extends = index == len(a.segments) < len(b.segments)
    divergence: Divergence | None = None
    partial = 0
    causes: list[Cause] = []
    if not (same or extends):
        divergence, partial = _divergence(a, b, index, count)
        causes.extend(classify(a, b, index, compaction=compaction))
    reuse = compute_reuse(a, b, index, partial, rules)
    reusable = reuse.reusable
    ttl = ttl_of(rules, reuse.entry_ttl, retention)
    for code in reuse.rules:
        causes.append(rule_cause(code, min=rules.min_tokens))
    if concurrent and reuse.extent:
        causes.append(rule_cause("parallel_requests"))
        reusable = 0
    elif gap_seconds is not None and gap_seconds > ttl and reuse.extent:
        causes.append(rule_cause("ttl_expired", gap=gap_seconds, ttl=ttl))
        reusable = 0
    lost = max(0, min(reuse.extent, b.total_tokens) - reusable)
    if divergence is not None and not lost and all(c.kind != "bust" for c in causes):
        # Nothing cached was lost: the change lies after every cache entry.
        causes = [c for c in causes if c.code != "tail_changed"] + [
            c for c in causes if c.code == "tail_changed"
        ]
    causes.sort(key=lambda c: ("bust", "planned", "expected", "info").index(c.kind))
    return Explanation(
        provider=b.provider,
        model=b.model,
        verdict=_verdict(causes, divergence),
        divergence=divergence,
        causes=tuple(causes),
        total_tokens=b.total_tokens,
        cached_before=reuse.extent,
        reusable_tokens=reusable,
        reprefilled_tokens=lost,
        miss_cost_usd=_miss_cost(lost, rules.prices),
    )


def explain(
    previous: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    adapter: Any,
    model: str | None = None,
    gap_seconds: float | None = None,
    concurrent: bool = False,
    compaction: bool | None = None,
    table: Mapping[str, ModelInfo] | None = None,
) -> Explanation:
    """Explain what ``current`` could reuse of what ``previous`` cached, and why not.

    Both requests are read as sent (the SDK keyword arguments) in the wire
    format of ``adapter``, compared in the provider's cache order (tools,
    system, messages; markers ignored; a string equals its one text block)
    and judged by the provider's cache rules for ``model``.

    Args:
        previous: the earlier request.
        current: the later request.
        adapter: a ``ProviderAdapter`` or a provider name (``"anthropic"``,
            ``"openai"``, ``"openai_responses"``, ``"gemini"``); it also counts
            the tokens.
        model: the model whose rules and prices apply (default: the current
            request's ``model``).
        gap_seconds: seconds between the two requests, to check the TTL.
        concurrent: ``True`` when ``current`` was sent before the response to
            ``previous`` began.
        compaction: ``True``/``False`` when you know whether history was
            compacted in between (``PromptManager`` does); ``None`` infers it
            from how much history was dropped.
        table: a model registry (default ``stableprefix.models.MODELS``).

    Returns:
        An ``Explanation``: verdict, first divergence, causes with one fix
        each, tokens reusable and re-prefilled, and the cost of the miss.

    Raises:
        TypeError: a request is not a dict, or ``adapter`` has a wrong type.
        DiagnosticsError: a request is malformed for the wire format, or the
            format is not one the diagnostics read.

    >>> prev = {"model": "claude-sonnet-4-5", "system": "Time: 10:00. " + "Rules. " * 900,
    ...         "messages": [{"role": "user", "content": "Hi"}]}
    >>> cur = {**prev, "system": "Time: 10:05. " + "Rules. " * 900}
    >>> e = explain(prev, cur, adapter="anthropic")
    >>> e.verdict, e.cause, e.divergence.path
    ('bust', 'volatile_value', '$.system[0]')
    """
    ad = resolve_adapter(adapter)
    a = segment_request(previous, ad)
    b = segment_request(current, ad)
    name = model if model is not None else b.model
    if not isinstance(name, str):
        raise TypeError(f"model must be a str, got {type(name).__name__}")
    rules = rules_for(ad.name, name, table=table)
    return explain_segmented(
        a,
        b,
        rules,
        gap_seconds=_check_gap(gap_seconds),
        concurrent=bool(concurrent),
        compaction=compaction,
        retention=previous.get("prompt_cache_retention"),
        count=ad.count_text_tokens,
    )


def _check_gap(gap: object) -> float | None:
    if gap is None:
        return None
    if isinstance(gap, bool) or not isinstance(gap, (int, float)) or gap < 0:
        raise ValueError(f"gap_seconds must be a number >= 0, got {gap!r}")
    return float(gap)
