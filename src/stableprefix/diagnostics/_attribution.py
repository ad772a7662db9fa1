"""Attribute each request's cache shortfall: the prefix changed, or the provider's rules.

Approach: replay a timed sequence of requests through two simulators built
from the same flattened blocks the benchmark uses. An ideal prefix cache
(``RadixCache``: no minimum, no expiry, no markers) reads everything a
request shares with any earlier one, so what it misses of the tokens that
were sent before is lost to *prefix changes*. The provider's cache model
(``cache_for_model``) reads less than the ideal only because of its
*rules* (minimum, TTL, markers and lookback, breakpoints, routing). Each
request also gets ``explain`` against its predecessor, which names the
cause; observed usage, when given, is set beside the prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import StablePrefixError
from .._usage import CacheUsage
from ..models import ModelInfo
from ..sim import CacheModel, RadixCache, cache_for_model
from ._explain import explain_segmented
from ._report import Explanation
from ._rules import resolve_adapter, rules_for
from ._segments import segment_request

__all__ = ["Attribution", "attribute", "provider_cache"]


def provider_cache(model: str, table: Mapping[str, ModelInfo] | None) -> CacheModel | None:
    """The benchmark's cache model for ``model``, or ``None`` where it has none yet.

    Without one, the expected read falls back to what ``explain`` finds
    reusable under the provider's rules.
    """
    if not model:
        return None
    try:
        return cache_for_model(model, table=table)
    except (ValueError, StablePrefixError):
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribution:
    """Where one request's cacheable tokens went.

    Attributes:
        index: position of the request in the sequence.
        time: when it was sent (seconds, any clock).
        total_tokens: prompt tokens.
        ideal_read: what an ideal prefix cache would read (shared with any
            earlier request).
        expected_read: what the provider's cache model predicts it reads.
        observed_read: the read the provider reported, when usage was given.
        lost_to_prefix: tokens sent before that were re-prefilled because
            the prefix changed.
        lost_to_rules: tokens an ideal cache would read that the provider's
            rules made a miss.
        explanation: ``explain`` against the previous request (``None`` for
            the first one).

    >>> Attribution(index=0, time=0.0, total_tokens=10, ideal_read=0, expected_read=0,
    ...             observed_read=None, lost_to_prefix=0, lost_to_rules=0,
    ...             explanation=None).cause
    'first_request'
    """

    index: int
    time: float
    total_tokens: int
    ideal_read: int
    expected_read: int
    observed_read: int | None
    lost_to_prefix: int
    lost_to_rules: int
    explanation: Explanation | None

    @property
    def cause(self) -> str:
        """The main cause code (``"first_request"`` for the first one)."""
        return self.explanation.cause if self.explanation is not None else "first_request"

    @property
    def shortfall(self) -> int | None:
        """Expected minus observed reads (``None`` without observed usage)."""
        if self.observed_read is None:
            return None
        return self.expected_read - self.observed_read


def _check_times(times: Sequence[float], n: int) -> list[float]:
    if len(times) != n:
        raise ValueError(f"times has {len(times)} entries for {n} requests; give one per request")
    out: list[float] = []
    for i, t in enumerate(times):
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise TypeError(f"times[{i}] must be a number of seconds, got {type(t).__name__}")
        if out and t < out[-1]:
            raise ValueError(f"times[{i}] = {t} is before times[{i - 1}]; sort requests by time")
        out.append(float(t))
    return out


def attribute(
    requests: Sequence[Mapping[str, Any]],
    *,
    adapter: Any,
    times: Sequence[float],
    model: str | None = None,
    usages: Sequence[CacheUsage | None] | None = None,
    answered: Sequence[float | None] | None = None,
    table: Mapping[str, ModelInfo] | None = None,
) -> list[Attribution]:
    """Split each request's cache shortfall into prefix changes and provider rules.

    Args:
        requests: the requests as sent, in time order.
        adapter: the wire format (an adapter or a provider name).
        times: when each request was sent, in seconds (non-decreasing).
        model: the model (default: the first request's ``model``).
        usages: the usage each response reported (``None`` where unknown),
            e.g. from ``adapter.parse_usage(response)``.
        answered: when each response began (``None`` where unknown); a
            request sent before the previous response began is a parallel
            request.
        table: a model registry (default ``stableprefix.models.MODELS``).

    Returns:
        One ``Attribution`` per request.

    Raises:
        TypeError, ValueError: ``times``/``usages``/``answered`` do not match
            the requests.
        DiagnosticsError: a request is malformed for the wire format.

    >>> base = "Rules. " * 900
    >>> reqs = [{"model": "claude-sonnet-4-5", "system": [
    ...     {"type": "text", "text": f"Now {t}. " + base, "cache_control": {"type": "ephemeral"}}],
    ...     "messages": [{"role": "user", "content": "Hi"}]} for t in ("10:00", "10:01")]
    >>> [a.cause for a in attribute(reqs, adapter="anthropic", times=[0, 60])]
    ['first_request', 'volatile_value']
    """
    ad = resolve_adapter(adapter)
    stamps = _check_times(list(times), len(requests))
    if usages is not None and len(usages) != len(requests):
        raise ValueError(f"usages has {len(usages)} entries for {len(requests)} requests")
    if answered is not None and len(answered) != len(requests):
        raise ValueError(f"answered has {len(answered)} entries for {len(requests)} requests")
    segs = [segment_request(r, ad) for r in requests]
    name = model if model is not None else (segs[0].model if segs else "")
    rules = rules_for(ad.name, name, table=table)
    provider_model = provider_cache(name, table)
    ideal = RadixCache()
    out: list[Attribution] = []
    prev_total = 0
    for i, request in enumerate(requests):
        flat = ad.flatten(request)
        ideal_read = ideal.process(flat, now=stamps[i]).cache_read_tokens
        expected = None
        if provider_model is not None:
            expected = provider_model.process(flat, now=stamps[i]).cache_read_tokens
        explanation = None
        # An ideal cache re-reads all but the last token of a repeated request.
        sent_before = min(prev_total, flat.total_tokens - 1) if i else 0
        prev_total = flat.total_tokens
        if i:
            prev_answer = answered[i - 1] if answered is not None else None
            explanation = explain_segmented(
                segs[i - 1],
                segs[i],
                rules,
                gap_seconds=stamps[i] - stamps[i - 1],
                concurrent=prev_answer is not None and stamps[i] < prev_answer,
                retention=requests[i - 1].get("prompt_cache_retention"),
                count=ad.count_text_tokens,
            )
        if expected is None:
            expected = explanation.reusable_tokens if explanation is not None else 0
        usage = usages[i] if usages is not None else None
        out.append(
            Attribution(
                index=i,
                time=stamps[i],
                total_tokens=flat.total_tokens,
                ideal_read=ideal_read,
                expected_read=expected,
                observed_read=usage.cache_read_tokens if usage is not None else None,
                lost_to_prefix=max(0, sent_before - ideal_read),
                lost_to_rules=max(0, ideal_read - expected),
                explanation=explanation,
            )
        )
    return out
