"""Name the cause of a divergence, and the fix for each cause.

Approach: the area of the first differing segment narrows the cause (model,
settings, tools, system, messages); inside it, the two requests are
compared as lists (tool names, messages) to tell a reorder from an
addition, a trimmed front from a compaction, a rewritten message from a
changed tail. The changed span is scanned for volatile values, which are the
most common cause and the easiest fix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ._report import Cause
from ._segments import Segment, Segmented
from ._volatile import changed_values

__all__ = ["FIXES", "classify", "make_cause", "rule_cause"]

#: code -> (kind, fix). One fix per cause.
FIXES: dict[str, tuple[str, str]] = {
    "volatile_value": (
        "bust",
        "move the changing value out of the cached prefix: pass it as dynamic context "
        "(build_request(dynamic_system_prompt=...)) after the last cache breakpoint",
    ),
    "system_changed": (
        "bust",
        "keep the static system prompt fixed for the conversation; put what varies in "
        "the dynamic context",
    ),
    "tools_reordered": (
        "bust",
        "send the tools in one fixed order (PromptConfig(tools=...) keeps the order given)",
    ),
    "tools_added": (
        "bust",
        "declare every tool the conversation may use from its first request",
    ),
    "tools_removed": (
        "bust",
        "keep removed tools declared (refuse their calls instead) until the next compaction",
    ),
    "tool_schema_changed": (
        "bust",
        "freeze tool definitions for the conversation; version a changed tool as a new tool",
    ),
    "tool_key_order": (
        "bust",
        "serialise tool JSON with one canonical key order (PromptConfig does this)",
    ),
    "model_changed": (
        "bust",
        "keep one model per conversation; each model has its own cache",
    ),
    "settings_changed": (
        "bust",
        "keep tool_choice, thinking and the response format fixed for the conversation",
    ),
    "history_rewritten": (
        "bust",
        "treat history as append-only: add corrections as new messages instead of editing",
    ),
    "history_trimmed": (
        "bust",
        "stop trimming the front every turn; compact rarely to a target well below the "
        "budget (PromptConfig(history_max_tokens=...))",
    ),
    "marker_moved": (
        "bust",
        "keep a cache breakpoint at the end of the part that was cached last time "
        "(the adapters place them for you)",
    ),
    "marker_missing": (
        "bust",
        "add cache_control to the last stable block (or top-level cache_control), "
        "as AnthropicAdapter does",
    ),
    "compaction": (
        "planned",
        "none needed: a compaction rewrites the cache once; raise history_max_tokens "
        "to make compactions rarer",
    ),
    "tail_changed": (
        "info",
        "none needed: only the uncached tail (the turn in progress or dynamic context) changed",
    ),
    "below_minimum": (
        "expected",
        "the prefix is shorter than the model's minimum cacheable length; "
        "caching starts once it grows past it",
    ),
    "ttl_expired": (
        "expected",
        "requests came further apart than the cache lifetime; use a longer TTL "
        "(Anthropic ttl '1h', OpenAI prompt_cache_retention '24h') or send a warm-up",
    ),
    "beyond_lookback": (
        "expected",
        "add a cache breakpoint within 20 blocks of the last cached one "
        "(e.g. on a tool result in long tool loops)",
    ),
    "parallel_requests": (
        "expected",
        "wait for the first response to begin before sending requests that share its prefix",
    ),
    "no_breakpoint": (
        "expected",
        "add prompt_cache_breakpoint on the last block of the stable part: GPT-5.6+ "
        "never falls back to an unmarked prefix",
    ),
}

_RULE_DETAIL = {
    "below_minimum": "the cacheable prefix is below the model's minimum of {min} tokens",
    "ttl_expired": "{gap:.0f} s passed since the previous request; entries live {ttl:.0f} s",
    "beyond_lookback": "the cached entry lies more than 20 block positions before "
    "any breakpoint of this request",
    "parallel_requests": "this request was sent before the previous response began, "
    "so the entry it writes was not readable yet",
    "no_breakpoint": "the stable prefix ends where no breakpoint was written "
    "(GPT-5.6+ caches only at breakpoints)",
    "marker_missing": "a request carries no cache marker, so nothing was written or looked up",
    "marker_moved": "no breakpoint of this request reaches the entry the previous one wrote",
}


def make_cause(code: str, detail: str) -> Cause:
    """A ``Cause`` of ``code`` with its kind and fix from ``FIXES``.

    >>> make_cause("ttl_expired", "d").kind
    'expected'
    """
    kind, fix = FIXES[code]
    return Cause(code=code, kind=kind, detail=detail, fix=fix)


def rule_cause(code: str, **values: float) -> Cause:
    """A cause found by the provider rules, with its detail filled in."""
    return make_cause(code, _RULE_DETAIL[code].format(**values))


def _names(req: Segmented) -> list[str]:
    return [s.name or s.canonical for s in req.segments if s.area == "tools"]


def _tools(a: Segmented, b: Segmented, sa: Segment | None, sb: Segment | None) -> list[Cause]:
    na, nb = _names(a), _names(b)
    added = [n for n in nb if n not in na]
    removed = [n for n in na if n not in nb]
    out: list[Cause] = []
    if added:
        out.append(make_cause("tools_added", f"tools added: {', '.join(added)}"))
    if removed:
        out.append(make_cause("tools_removed", f"tools removed: {', '.join(removed)}"))
    if out:
        return out
    if sorted(na) == sorted(nb) and na != nb:
        return [make_cause("tools_reordered", f"tool order {na} -> {nb}")]
    if sa is not None and sb is not None:
        if sa.canonical == sb.canonical:
            return [make_cause("tool_key_order", f"tool {sb.name!r} has its keys in a new order")]
        volatile = _volatile(sa, sb)
        if volatile:
            return [volatile]
        return [make_cause("tool_schema_changed", f"tool {sb.name!r} definition changed")]
    return [make_cause("tool_schema_changed", "the tool definitions changed")]


def _volatile(sa: Segment, sb: Segment) -> Cause | None:
    values, _old, _new = changed_values(sa.text, sb.text)
    if not values:
        return None
    shown = ", ".join(f"{v.kind} {v.value!r}" for v in values[:3])
    return make_cause(
        "volatile_value",
        f"a value that changes every request ({shown}) sits in the cached prefix at {sb.path}",
    )


def _settings(sa: Segment, sb: Segment) -> Cause:
    a, b = json.loads(sa.text), json.loads(sb.text)
    keys = sorted(k for k in {*a, *b} if a.get(k) != b.get(k))
    return make_cause("settings_changed", f"request settings changed: {', '.join(keys)}")


def _conversation(req: Segmented) -> tuple[list[str], list[int]]:
    """Text and tokens of each conversation message (system messages left out)."""
    texts: dict[int, list[str]] = {}
    tokens: dict[int, int] = {}
    for seg in req.segments:
        if seg.message is not None and seg.area == "messages":
            texts.setdefault(seg.message, []).append(seg.text)
            tokens[seg.message] = tokens.get(seg.message, 0) + seg.tokens
    order = sorted(texts)
    return ["\n".join(texts[i]) for i in order], [tokens[i] for i in order]


def front_drop(a: Segmented, b: Segmented) -> tuple[int, int] | None:
    """``(dropped, inserted)`` when ``b``'s messages are ``a``'s with the front cut.

    ``inserted`` is 1 when a new first message (a summary) replaced the cut.
    The last message of ``a`` may differ (it is the uncached tail).
    """
    ma, mb = _conversation(a)[0], _conversation(b)[0]
    for k in range(1, len(ma)):
        for s in (0, 1):
            rest = ma[k:]
            m = 0
            while m < len(rest) and s + m < len(mb) and rest[m] == mb[s + m]:
                m += 1
            if m >= 1 and m >= len(rest) - 1:
                return k, s
    return None


def _history(
    a: Segmented,
    b: Segmented,
    sa: Segment | None,
    sb: Segment | None,
    message: int | None,
    compaction: bool | None,
) -> list[Cause]:
    cut = front_drop(a, b) if message is not None and message < a.message_count - 1 else None
    if cut is not None:
        dropped, summary = cut
        tokens = _conversation(a)[1]
        gone = sum(tokens[:dropped])
        planned = (
            compaction if compaction is not None else (summary == 1 or gone * 3 >= sum(tokens))
        )
        how = "replaced by a summary" if summary else "dropped"
        detail = f"the first {dropped} messages ({gone} tokens) were {how}"
        return [make_cause("compaction" if planned else "history_trimmed", detail)]
    if compaction:
        return [make_cause("compaction", "history was compacted")]
    if message is not None and message >= a.message_count - 1:
        return [make_cause("tail_changed", f"the last message ({message}) changed")]
    if sa is not None and sb is not None:
        volatile = _volatile(sa, sb)
        if volatile:
            return [volatile]
    return [make_cause("history_rewritten", f"message {message} differs from last time")]


def classify(
    a: Segmented,
    b: Segmented,
    index: int,
    *,
    compaction: bool | None = None,
) -> list[Cause]:
    """The causes of the first divergence at segment ``index``.

    Args:
        a: the previous request.
        b: the current request.
        index: the first segment that differs (may be past the end of one).
        compaction: ``True``/``False`` when the caller knows whether a
            compaction happened in between; ``None`` to infer it.

    Returns:
        The causes, main one first.
    """
    sa = a.segments[index] if index < len(a.segments) else None
    sb = b.segments[index] if index < len(b.segments) else None
    seg = sb if sb is not None else sa
    if seg is None:
        return []
    area = seg.area
    if sa is not None and sb is not None and sa.area != sb.area:
        area = min(sa.area, sb.area, key=_AREA_ORDER.index)
    if area == "model":
        return [make_cause("model_changed", f"model {_j(sa)} -> {_j(sb)}")]
    if area == "settings" and sa is not None and sb is not None:
        return [_settings(sa, sb)]
    if area == "tools":
        return _tools(a, b, sa, sb)
    if area == "system":
        if sa is not None and sb is not None:
            volatile = _volatile(sa, sb)
            if volatile:
                return [volatile]
        return [make_cause("system_changed", f"the system prompt changed at {seg.path}")]
    return _history(a, b, sa, sb, seg.message, compaction)


_AREA_ORDER: Sequence[str] = ("model", "settings", "tools", "system", "messages")


def _j(seg: Segment | None) -> str:
    return seg.text if seg is not None else "(none)"
