"""Where Anthropic ``cache_control`` markers go, counting the caller's own.

Approach: the API accepts at most four markers per request, wherever they
sit (tool definitions, system blocks, message blocks and blocks nested in a
``tool_result``'s content), and a one-hour marker may not follow a
five-minute one. We list every block of the request in prefix order (a
"site") with the marker the caller put there, refuse a request whose
caller markers already break a rule (only the caller can fix those), and
then add the library's candidates best first while both rules keep
holding: a one-hour marker of ours that would follow a five-minute marker
becomes a five-minute one, and a five-minute marker of ours that would
precede a one-hour marker is dropped. The caller's markers are never moved
or changed.

Source: https://platform.claude.com/docs/en/build-with-claude/prompt-caching
("You can define up to 4 cache breakpoints"; "Cache entries with longer TTL
must appear before shorter TTLs"), read 2026-12-01.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import CacheMarkerError

__all__ = [
    "MAX_MARKERS",
    "STRATEGIES",
    "SYSTEM_MESSAGE_MODELS",
    "Candidate",
    "Site",
    "check_cache_control",
    "marker_of",
    "plan_markers",
    "sites",
    "supports_system_messages",
    "ttl_of",
]

MAX_MARKERS = 4
TTLS = ("5m", "1h")


STRATEGIES = ("explicit", "automatic", "hybrid")
#: Models that accept ``{"role": "system"}`` inside ``messages`` ("This feature
#: is available on Claude Opus 4.8 only"), from
#: https://platform.claude.com/docs/en/build-with-claude/mid-conversation-system-messages
#: read 2026-12-01.
SYSTEM_MESSAGE_MODELS = ("claude-opus-4-8",)


def supports_system_messages(model: str | None) -> bool:
    """Whether ``model`` accepts a mid-conversation ``{"role": "system"}`` message.

    >>> supports_system_messages("claude-opus-4-8"), supports_system_messages("claude-sonnet-5-5")
    (True, False)
    """
    if not isinstance(model, str):
        return False
    from ..models import canonical_model_name

    return canonical_model_name(model)[0] in SYSTEM_MESSAGE_MODELS


def marker_of(ttl: str) -> dict[str, str]:
    """The ``cache_control`` value for a TTL (the default TTL is left implicit).

    >>> marker_of("1h")
    {'type': 'ephemeral', 'ttl': '1h'}
    """
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def check_cache_control(value: Any) -> dict[str, Any]:
    """A copy of a top-level ``cache_control`` after checking its shape.

    Raises:
        TypeError: it is not a mapping.
        ValueError: it is not ``{"type": "ephemeral"}`` with an optional TTL.

    >>> check_cache_control({"type": "ephemeral", "ttl": "1h"})
    {'type': 'ephemeral', 'ttl': '1h'}
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"cache_control must be a dict, got {type(value).__name__}")
    if (
        value.get("type") != "ephemeral"
        or value.get("ttl", "5m") not in TTLS
        or (set(value) - {"type", "ttl"})
    ):
        raise ValueError(
            f"cache_control must be {{'type': 'ephemeral'}} with optional ttl '5m' or '1h', "
            f"got {dict(value)!r}"
        )
    return dict(value)


def ttl_of(block: Any) -> str | None:
    """The TTL of a block's ``cache_control`` marker, ``None`` when unmarked.

    >>> ttl_of({"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}})
    '5m'
    """
    if not isinstance(block, dict):
        return None
    cc = block.get("cache_control")
    if not isinstance(cc, dict):
        return None
    ttl = cc.get("ttl", "5m")
    return ttl if ttl in TTLS else "5m"


@dataclass(frozen=True, slots=True)
class Site:
    """One block of a request that can carry a marker, in prefix order.

    Attributes:
        path: where it sits in the request, e.g. ``$.messages[3].content[0]``.
        ttl: the caller's marker on it (``None`` for none).
    """

    path: str
    ttl: str | None


def _content(message: Any) -> list[Any]:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [content]  # a string is one text block
    return content if isinstance(content, list) else []


def sites(tools: Sequence[Any], system: Sequence[Any], messages: Sequence[Any]) -> list[Site]:
    """Every markable block of a request, in the order the prefix is read.

    A block nested in a ``tool_result``'s content comes before the
    ``tool_result`` block itself (its prefix ends earlier).

    >>> [s.path for s in sites([{"name": "f"}], [], [{"role": "user", "content": "hi"}])]
    ['$.tools[0]', '$.messages[0].content[0]']
    """
    out = [Site(f"$.tools[{i}]", ttl_of(t)) for i, t in enumerate(tools)]
    out += [Site(f"$.system[{i}]", ttl_of(b)) for i, b in enumerate(system)]
    for m, message in enumerate(messages):
        for b, block in enumerate(_content(message)):
            path = f"$.messages[{m}].content[{b}]"
            inner = block.get("content") if isinstance(block, dict) else None
            if isinstance(inner, list):
                out += [Site(f"{path}.content[{k}]", ttl_of(x)) for k, x in enumerate(inner)]
            out.append(Site(path, ttl_of(block)))
    return out


def _check_callers(found: list[Site]) -> None:
    marked = [s for s in found if s.ttl is not None]
    if len(marked) > MAX_MARKERS:
        where = ", ".join(s.path for s in marked)
        raise CacheMarkerError(
            f"the request carries {len(marked)} cache markers ({where}) but Anthropic "
            f"accepts at most {MAX_MARKERS}; remove cache_control from some of these blocks",
            rule="max_markers",
            path=marked[-1].path,
        )
    seen_5m: Site | None = None
    for site in marked:
        if site.ttl == "5m" and seen_5m is None:
            seen_5m = site
        elif site.ttl == "1h" and seen_5m is not None:
            raise CacheMarkerError(
                f"a one-hour cache marker follows the five-minute marker at {seen_5m.path}; "
                "Anthropic requires longer TTLs first: give the earlier marker ttl '1h' or "
                "drop the ttl of this one",
                rule="ttl_order",
                path=site.path,
            )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A block the library would like to mark.

    Attributes:
        site: index into the request's ``sites`` list.
        ttl: the TTL it asks for.
    """

    site: int
    ttl: str


def plan_markers(
    found: list[Site], candidates: Sequence[Candidate], *, automatic: str | None = None
) -> Iterator[tuple[int, str]]:
    """The library's markers ``(site index, ttl)`` that fit beside the caller's.

    Args:
        found: the request's sites with the caller's markers.
        candidates: the library's wishes, best first.
        automatic: TTL of a top-level automatic ``cache_control`` the request
            carries, or ``None``. It takes one of the four slots and sits on
            the last block, so it also counts in the TTL order.

    Raises:
        CacheMarkerError: the caller's markers alone break a rule.

    >>> s = [Site("$.tools[0]", "5m"), Site("$.system[0]", None)]
    >>> list(plan_markers(s, [Candidate(1, "1h")]))  # a 1h after a caller's 5m: downgraded
    [(1, '5m')]
    """
    if automatic is not None:
        found = [*found, Site("$.cache_control", automatic)]
    _check_callers(found)
    ttls: dict[int, str] = {i: s.ttl for i, s in enumerate(found) if s.ttl is not None}
    budget = MAX_MARKERS - len(ttls)
    for cand in candidates:
        if budget <= 0:
            return
        if cand.site in ttls:
            continue  # the caller's marker already caches this prefix
        ttl = cand.ttl
        if ttl == "1h" and any(t == "5m" for i, t in ttls.items() if i < cand.site):
            ttl = "5m"
        if ttl == "5m" and any(t == "1h" for i, t in ttls.items() if i > cand.site):
            continue
        ttls[cand.site] = ttl
        budget -= 1
        yield cand.site, ttl
