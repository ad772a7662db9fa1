"""Values that change on every request: clocks, dates, ids.

Approach: one ordered table of patterns, most specific first (a UUID before
a hex id, an ISO timestamp before a bare date). ``find_volatile`` scans a
text for them (used by lint on static prompts and tools); ``changed_values``
reports only the ones that overlap the span where two texts differ (used by
explain), so a date that is the same in both requests is never blamed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["VolatileValue", "changed_values", "find_volatile"]

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("uuid", re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b")),
    (
        "timestamp",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
            r"(?:\s?(?:Z|UTC|[+-]\d{2}:?\d{2}))?"
        ),
    ),
    (
        "request_id",
        re.compile(
            r"\b(?:req|request|msg|resp|trace|span|run|chatcmpl|call|session)[-_]"
            r"[A-Za-z0-9]{6,}\b|\b(?:request|trace|correlation)[ _-]?id\b\W{0,3}\S+",
            re.IGNORECASE,
        ),
    ),
    ("epoch", re.compile(r"\b1[5-9]\d{8}(?:\d{3})?(?:\.\d+)?\b")),
    (
        "date",
        re.compile(
            rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b"
            rf"|\b(?:{_DAY},?\s+)?{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
            rf"|\b\d{{1,2}}\s+{_MONTH}\.?\s+\d{{4}}\b|\b{_DAY}day\b"
        ),
    ),
    ("time", re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp][Mm])?\b")),
    ("hex_id", re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{16,}\b")),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VolatileValue:
    """A value in a text that is likely to change on every request.

    Attributes:
        kind: ``"uuid"``, ``"timestamp"``, ``"request_id"``, ``"epoch"``,
            ``"date"``, ``"time"`` or ``"hex_id"``.
        value: the matched text.
        start: its offset in the text scanned.

    >>> find_volatile("Today is 2026-12-01.")[0].kind
    'date'
    """

    kind: str
    value: str
    start: int


def find_volatile(text: str) -> list[VolatileValue]:
    """Every volatile value in ``text``, in order, without overlaps.

    Args:
        text: any text (a system prompt, a tool description, JSON).

    Returns:
        The values found; a more specific kind wins where patterns overlap.

    >>> [v.kind for v in find_volatile("now 2026-12-01T10:00:00Z id 1764583200")]
    ['timestamp', 'epoch']
    """
    taken: list[tuple[int, int]] = []
    found: list[VolatileValue] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append(VolatileValue(kind=kind, value=m.group(0), start=m.start()))
    return sorted(found, key=lambda v: v.start)


def changed_values(before: str, after: str) -> tuple[list[VolatileValue], str, str]:
    """The volatile values of ``after`` that overlap where it differs from ``before``.

    Args:
        before: the earlier text.
        after: the later text.

    Returns:
        ``(values, old_span, new_span)``: the values, and the differing spans
        (after the common prefix and before the common suffix).

    >>> vals, old, new = changed_values("Time: 10:00. Be brief.", "Time: 10:05. Be brief.")
    >>> [v.value for v in vals], old, new
    (['10:05'], '0', '5')
    """
    head = 0
    limit = min(len(before), len(after))
    while head < limit and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < limit - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    end = len(after) - tail
    hits = [
        v
        for v in find_volatile(after)
        if v.start <= max(end, head + 1) - 1
        and head < v.start + len(v.value) + 1
        and _in_before_differs(v, before)
    ]
    return hits, before[head : len(before) - tail], after[head:end]


def _in_before_differs(value: VolatileValue, before: str) -> bool:
    """A value that appears unchanged in ``before`` is not what changed."""
    return value.value not in before
