"""Scoring: cache models, prices and the numbers of one strategy run.

Approach: a run is one strategy playing one workload in one wire format;
its requests are flattened once and the same flat stream is fed, with each
step's time, to every cache model that reads that format, and to an
unbounded radix cache. The radix cache reuses every token any earlier
request shares, so its hits are the ideal for that stream: ``efficiency``
is the model's hits over the radix hits. Costs come from the price table
(with output tokens, which are the same for every strategy); local engines
have no prices, and are compared on the prompt tokens they must compute.
Live runs build the same ``Run`` from the provider's reported usage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .._blocks import FlatRequest
from .._usage import CacheUsage
from ..pricing import ModelPrices, estimate_cost, estimate_uncached_cost, get_prices
from ..sim import (
    AnthropicCache,
    CacheModel,
    GeminiCache,
    LlamaCppCache,
    RadixCache,
    VLLMCache,
    cache_for_model,
)

__all__ = [
    "SIMULATED",
    "SIM_PROVIDERS",
    "Run",
    "SimProvider",
    "TurnRecord",
    "ideal_reads",
    "score",
]


@dataclass(frozen=True, slots=True)
class SimProvider:
    """A simulated provider: the wire format it reads and its cache model."""

    name: str
    wire: str
    default_model: str | None
    make_cache: Callable[[str | None], CacheModel]
    description: str
    #: The server behind the OpenAI format (``OpenAIAdapter(engine=...)``).
    engine: str = "openai"


SIM_PROVIDERS: dict[str, SimProvider] = {
    p.name: p
    for p in (
        SimProvider(
            "anthropic-sim",
            "anthropic",
            "claude-sonnet-5-5",
            lambda m: AnthropicCache(m),
            "Anthropic cache_control rules",
        ),
        SimProvider(
            "openai-sim",
            "openai",
            "gpt-5.6-terra",
            lambda m: cache_for_model(m or "gpt-5.6-terra"),
            "OpenAI caching by the model's rules (GPT-5.6+: breakpoints)",
        ),
        SimProvider(
            "gemini-sim",
            "gemini",
            "gemini-3.8-flash",
            lambda m: GeminiCache(m),
            "Gemini implicit caching",
        ),
        SimProvider(
            "vllm", "openai", None, lambda m: VLLMCache(), "vLLM 16-token blocks", "vllm"
        ),
        SimProvider(
            "llamacpp",
            "openai",
            None,
            lambda m: LlamaCppCache(),
            "llama.cpp server: 1 slot, RAM prompt cache on, slot similarity 0.1",
            "llama.cpp",
        ),
        SimProvider(
            "radix", "openai", None, lambda m: RadixCache(), "ideal token-level radix cache"
        ),
    )
}
#: What ``--provider simulated`` runs.
SIMULATED = tuple(SIM_PROVIDERS)


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRecord:
    """One request of a run (for ``--detail``)."""

    index: int
    conversation: str
    time: float
    usage: CacheUsage
    ideal_read: int
    cost: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """The totals of one strategy on one workload under one cache model.

    ``cost`` and ``cost_uncached`` are ``None`` without prices (local engines).
    ``error`` says why a run could not be played (its numbers are then zero).
    """

    workload: str
    strategy: str
    provider: str
    model: str | None
    usage: CacheUsage
    requests: int
    ideal_read: int
    cost: float | None
    cost_uncached: float | None
    turns: tuple[TurnRecord, ...] = field(default=(), compare=False)
    error: str | None = None

    @property
    def savings(self) -> float | None:
        """Share of the uncached cost that caching saved (``None`` without prices)."""
        if self.cost is None or not self.cost_uncached:
            return None
        return 1.0 - self.cost / self.cost_uncached

    @property
    def efficiency(self) -> float:
        """Cache reads over what an ideal radix cache reads on the same stream."""
        if self.ideal_read == 0:
            return 1.0 if self.usage.cache_read_tokens == 0 else 0.0
        return self.usage.cache_read_tokens / self.ideal_read

    @property
    def bill(self) -> float:
        """What ranks runs: the cost, or the computed prompt tokens without prices."""
        if self.cost is not None:
            return self.cost
        return float(self.usage.uncached_input_tokens + self.usage.cache_write_tokens)


def ideal_reads(flats: Sequence[tuple[FlatRequest, float]]) -> list[int]:
    """Radix-cache hits of each request in a timed stream.

    >>> from stableprefix import CacheBlock
    >>> r = FlatRequest(provider="x", blocks=(CacheBlock(key="a", tokens=10, kind="text",
    ...                                                   role="user"),))
    >>> ideal_reads([(r, 0.0), (r, 1.0)])
    [0, 9]
    """
    cache = RadixCache()
    return [cache.process(f, now=t).cache_read_tokens for f, t in flats]


def _prices(model: str | None, priced: bool) -> ModelPrices | None:
    return None if model is None or not priced else get_prices(model)


def score(
    *,
    workload: str,
    strategy: str,
    provider: str,
    model: str | None,
    usages: Sequence[CacheUsage],
    ideal: Sequence[int],
    conversations: Sequence[str],
    times: Sequence[float],
    priced: bool = True,
) -> Run:
    """Sum per-request usages into a ``Run``.

    Costs use the price table entry of ``model``; with ``priced=False`` or
    no model (local engines) they are ``None``.

    >>> u = CacheUsage(cache_read_tokens=900, uncached_input_tokens=100, output_tokens=10)
    >>> r = score(workload="w", strategy="s", provider="p", model="gpt-5-mini", usages=[u],
    ...           ideal=[950], conversations=["c0"], times=[0.0])
    >>> round(r.efficiency, 3), r.requests
    (0.947, 1)
    """
    prices = _prices(model, priced)
    total = CacheUsage()
    turns: list[TurnRecord] = []
    for i, u in enumerate(usages):
        total = total + u
        cost = None if prices is None else estimate_cost(u, prices)
        turns.append(
            TurnRecord(
                index=i,
                conversation=conversations[i],
                time=times[i],
                usage=u,
                ideal_read=ideal[i],
                cost=cost,
            )
        )
    return Run(
        workload=workload,
        strategy=strategy,
        provider=provider,
        model=model,
        usage=total,
        requests=len(usages),
        ideal_read=sum(ideal),
        # Priced request by request: long-context tiers depend on each prompt.
        cost=None if prices is None else sum(t.cost or 0.0 for t in turns),
        cost_uncached=(
            None if prices is None else sum(estimate_uncached_cost(u, prices) for u in usages)
        ),
        turns=tuple(turns),
    )
