"""Watch a running conversation's cache: expected reads against reported reads.

Approach: ``CacheMonitor`` is fed each (request, response) pair as the app
sends them. It replays the request through the provider's cache model (the
benchmark's), reads the usage the provider reported, explains the request
against the previous one and reconciles the provider's own diagnostics when
the response carries them. The diagnostics are asked for by the adapter
(``provider_diagnostics=True``: a ``PromptManager`` then puts the id of the
last response appended into its own requests), or, for requests built
without one, by ``prepare``. A bust of the prefix, or reads that fall short of
the model's expectation, become a ``CacheBustEvent`` delivered through the
event callback (the manager's ``on_event`` when attached to one) and, if
asked, a ``CacheBustWarning``. Time is passed in (``sent_at``); the monitor
reads no clock.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._events import Event
from ..models import ModelInfo
from ..sim import CacheModel
from ._attribution import provider_cache
from ._explain import explain_segmented
from ._provider import reconcile, request_diagnostics
from ._report import Explanation
from ._rules import resolve_adapter, rules_for
from ._segments import Segmented, segment_request

__all__ = ["CacheBustEvent", "CacheBustWarning", "CacheMonitor", "MonitorStats"]


def _asks(request: Mapping[str, Any]) -> bool:
    """Whether a request already asks for the provider's cache diagnostics."""
    options = request.get("prompt_cache_options")
    compares = isinstance(options, Mapping) and options.get("comparison_response_id") is not None
    return "diagnostics" in request or compares


class CacheBustWarning(UserWarning):
    """Issued by ``CacheMonitor(warn=True)`` when a request busts the cache.

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", CacheBustWarning)  # fail a test run on a bust
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheBustEvent(Event):
    """A request read less from the cache than it should have (an ``Event``).

    Attributes:
        index: the request's number in the monitored session (0-based).
        expected_read: tokens the provider's cache model expected it to read.
        observed_read: tokens the provider reported reading.
        explanation: why, against the previous request (with the provider's
            own diagnosis reconciled when the response carried one).

    >>> from stableprefix import Event
    >>> issubclass(CacheBustEvent, Event)
    True
    """

    index: int
    expected_read: int
    observed_read: int
    explanation: Explanation

    @property
    def shortfall(self) -> int:
        """Expected minus observed reads (0 when the read was as expected)."""
        return max(0, self.expected_read - self.observed_read)


@dataclass(slots=True)
class MonitorStats:
    """Running totals of one monitored session.

    Attributes:
        requests: requests observed.
        expected_read: tokens the cache model expected to be read, summed.
        observed_read: tokens the provider reported reading, summed.
        busts: requests reported as a ``CacheBustEvent``.
        lost_usd: cost of cached tokens re-prefilled because of busts.
        by_cause: busts per main cause code.
        agreements: reconciliations with the provider's diagnostics, per verdict.
        disagreements: the requests (0-based) where the provider's diagnosis
            contradicts ours, whether or not the read fell short.

    >>> MonitorStats(expected_read=1000, observed_read=250).read_ratio
    0.25
    """

    requests: int = 0
    expected_read: int = 0
    observed_read: int = 0
    busts: int = 0
    lost_usd: float = 0.0
    by_cause: dict[str, int] = field(default_factory=dict)
    agreements: dict[str, int] = field(default_factory=dict)
    disagreements: list[int] = field(default_factory=list)

    @property
    def read_ratio(self) -> float:
        """Observed over expected reads (1.0 when nothing was expected)."""
        return self.observed_read / self.expected_read if self.expected_read else 1.0


class CacheMonitor:
    """Compare reported cache reads with the simulator's, and explain shortfalls.

    Args:
        adapter: the wire format (an adapter or a provider name).
        model: the model for rules, prices and the cache model (default:
            each request's ``model``).
        on_event: called with each ``CacheBustEvent``.
        warn: also issue a ``CacheBustWarning``.
        tolerance: a shortfall up to this many tokens is not reported
            (providers count hits in steps).
        table: a model registry (default ``stableprefix.models.MODELS``).

    >>> mon = CacheMonitor("anthropic", model="claude-sonnet-4-5")
    >>> mon.stats.requests
    0
    """

    def __init__(
        self,
        adapter: Any,
        *,
        model: str | None = None,
        on_event: Callable[[Event], object] | None = None,
        warn: bool = False,
        tolerance: int = 128,
        table: Mapping[str, ModelInfo] | None = None,
    ) -> None:
        if on_event is not None and not callable(on_event):
            raise TypeError("on_event must be callable")
        if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
            raise ValueError(f"tolerance must be an int >= 0, got {tolerance!r}")
        self._adapter = resolve_adapter(adapter)
        self._model = model
        self._on_event = on_event
        self._warn = bool(warn)
        self._tolerance = tolerance
        self._table = table
        self._cache: CacheModel | None = None
        self._no_cache = False
        self._previous: tuple[Segmented, Mapping[str, Any], float, float | None] | None = None
        self._manager: Any = None
        self._compactions = 0
        self.stats = MonitorStats()
        #: The id of the last response observed (for the providers' diagnostics).
        self.last_response_id: str | None = None

    def attach(self, manager: Any) -> None:
        """Follow a ``PromptManager``: its adapter, its compactions, its ``on_event``.

        Args:
            manager: the ``PromptManager`` whose requests will be observed.

        Raises:
            TypeError: ``manager`` has no ``config``/``state``.

        >>> from stableprefix import AnthropicAdapter, PromptConfig, PromptManager
        >>> mon = CacheMonitor("openai")
        >>> mon.attach(PromptManager(PromptConfig(adapter=AnthropicAdapter())))
        >>> mon.prepare({"messages": []})
        {'messages': [], 'diagnostics': {'previous_message_id': None}}
        """
        config = getattr(manager, "config", None)
        if config is None or not hasattr(manager, "state"):
            raise TypeError("attach() takes a PromptManager")
        self._adapter = resolve_adapter(config.adapter)
        self._manager = manager
        self._compactions = int(manager.state.get("compactions", 0))

    def prepare(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``request`` with the provider's cache diagnostics asked for (a copy).

        For requests built without the adapter option: a ``PromptManager``
        whose adapter has ``provider_diagnostics=True`` already asks, and a
        request that already asks is returned unchanged. Otherwise fills in
        the id of the last response appended to the attached
        ``PromptManager``, else of the last response observed (Anthropic
        ``diagnostics.previous_message_id``, OpenAI Responses
        ``prompt_cache_options.comparison_response_id``); other formats get
        the request back unchanged.

        Args:
            request: the request about to be sent.

        Returns:
            A new dict.

        >>> CacheMonitor("gemini").prepare({"contents": []})
        {'contents': []}
        """
        if self._adapter.name not in ("anthropic", "openai_responses") or _asks(request):
            return dict(request)
        previous = self.last_response_id
        if self._manager is not None:
            previous = getattr(self._manager, "last_response_id", None) or previous
        return request_diagnostics(request, self._adapter.name, previous)

    def _model_of(self, seg: Segmented) -> str:
        return self._model if self._model is not None else seg.model

    def _cache_model(self, name: str) -> CacheModel | None:
        if self._cache is None and not self._no_cache:
            self._cache = provider_cache(name, self._table)
            self._no_cache = self._cache is None
        return self._cache

    def _emit(self, event: CacheBustEvent) -> None:
        sink = self._on_event
        if self._manager is not None:
            sink = getattr(self._manager.config, "on_event", None) or sink
        if sink is not None:
            sink(event)
        if self._warn:
            warnings.warn(CacheBustWarning(event.explanation.text()), stacklevel=3)

    def observe(
        self,
        request: Mapping[str, Any],
        response: Any,
        *,
        sent_at: float | None = None,
        answered_at: float | None = None,
    ) -> CacheBustEvent | None:
        """Record one (request, response) pair; report it if the cache fell short.

        Args:
            request: the request as sent.
            response: the provider's response (SDK object or JSON).
            sent_at: when the request was sent, in seconds (default: one
                second after the previous one).
            answered_at: when the response began, if known.

        Returns:
            The ``CacheBustEvent`` emitted, or ``None``.

        Raises:
            DiagnosticsError: the request is malformed for the wire format.
            UsageError: the response's usage cannot be read.

        >>> mon = CacheMonitor("openai", model="gpt-5")
        >>> req = {"messages": [{"role": "user", "content": "Hi"}]}
        >>> usage = {"usage": {"prompt_tokens": 5, "completion_tokens": 1,
        ...                    "prompt_tokens_details": {"cached_tokens": 0}}}
        >>> mon.observe(req, usage, sent_at=0.0) is None, mon.stats.requests
        (True, 1)
        """
        seg = segment_request(request, self._adapter)
        name = self._model_of(seg)
        usage = self._adapter.parse_usage(response)
        now = float(sent_at) if sent_at is not None else float(self.stats.requests)
        cache = self._cache_model(name)
        flat = self._adapter.flatten(request)
        predicted = cache.process(flat, now=now).cache_read_tokens if cache else None
        explanation = self._explain(seg, request, now, name)
        if predicted is None:
            predicted = explanation.reusable_tokens if explanation is not None else 0
        index = self.stats.requests
        self._count(predicted, usage.cache_read_tokens)
        self._remember(seg, request, now, answered_at, response)
        if explanation is None:
            return None
        explanation = reconcile(explanation, response)
        if explanation.agreement is not None:
            tally = self.stats.agreements
            tally[explanation.agreement] = tally.get(explanation.agreement, 0) + 1
            if explanation.agreement == "disagree":
                self.stats.disagreements.append(index)
        short = predicted - usage.cache_read_tokens > self._tolerance
        if not (explanation.is_bust or short):
            return None
        event = CacheBustEvent(
            index=index,
            expected_read=predicted,
            observed_read=usage.cache_read_tokens,
            explanation=explanation,
        )
        self.stats.busts += 1
        self.stats.lost_usd += explanation.miss_cost_usd or 0.0
        cause = explanation.cause
        self.stats.by_cause[cause] = self.stats.by_cause.get(cause, 0) + 1
        self._emit(event)
        return event

    def _count(self, expected: int, observed: int) -> None:
        self.stats.requests += 1
        self.stats.expected_read += expected
        self.stats.observed_read += observed

    def _explain(
        self, seg: Segmented, request: Mapping[str, Any], now: float, name: str
    ) -> Explanation | None:
        if self._previous is None:
            return None
        prev_seg, prev_req, prev_at, prev_answer = self._previous
        compaction = None
        if self._manager is not None:
            seen = int(self._manager.state.get("compactions", 0))
            compaction = seen != self._compactions
            self._compactions = seen
        return explain_segmented(
            prev_seg,
            seg,
            rules_for(self._adapter.name, name, table=self._table),
            gap_seconds=max(0.0, now - prev_at),
            concurrent=prev_answer is not None and now < prev_answer,
            compaction=compaction,
            retention=prev_req.get("prompt_cache_retention"),
            count=self._adapter.count_text_tokens,
        )

    def _remember(
        self,
        seg: Segmented,
        request: Mapping[str, Any],
        now: float,
        answered_at: float | None,
        response: Any,
    ) -> None:
        self._previous = (seg, request, now, answered_at)
        data = response if isinstance(response, Mapping) else None
        if data is None and callable(getattr(response, "model_dump", None)):
            data = response.model_dump()
        rid = data.get("id") if isinstance(data, Mapping) else None
        self.last_response_id = rid if isinstance(rid, str) else None
