"""Simulated runs: play strategies through workloads and score every cache model.

Each (workload, strategy, wire format) is played once; its flattened
requests are scored by every selected cache model that reads that format,
so adding a cache model costs a pass over the stream, not a replay.
Strategies are passed as factories, so other libraries can be measured by
exactly the same path (``benchmarks/compare.py`` does).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence

from .._blocks import FlatRequest
from .._usage import CacheUsage
from ._score import SIM_PROVIDERS, Run, ideal_reads, score
from ._strategies import Session, make_session, play
from ._wire import Wire, make_wire
from ._workloads import Workload

__all__ = ["SessionFactory", "builtin_factories", "flatten_run", "simulate_runs"]

SessionFactory = Callable[[Workload, Wire], Session]
# timed flat requests, output tokens, conversation ids, ideal reads
_Stream = tuple[list[tuple[FlatRequest, float]], list[int], list[str], list[int]]


def builtin_factories(names: Sequence[str]) -> dict[str, SessionFactory]:
    """Factories of the built-in strategies ``names``.

    >>> sorted(builtin_factories(["naive"]))
    ['naive']
    """

    def factory(name: str) -> SessionFactory:
        return lambda workload, wire: make_session(name, workload, wire)

    return {n: factory(n) for n in names}


def flatten_run(
    workload: Workload, session: Session, wire: Wire
) -> tuple[list[tuple[FlatRequest, float]], list[int], list[str]]:
    """Play ``session`` through ``workload``: timed flat requests, outputs, conversations.

    >>> from stableprefix.benchmark._workloads import build_workload
    >>> from stableprefix.benchmark._strategies import make_session
    >>> w = build_workload("clock-chat", turns=2)
    >>> wire = make_wire("openai")
    >>> flats, outs, convs = flatten_run(w, make_session("naive", w, wire), wire)
    >>> len(flats), convs
    (2, ['c0', 'c0'])
    """
    flats: list[tuple[FlatRequest, float]] = []
    outputs: list[int] = []
    convs: list[str] = []
    for step, request in play(workload, session):
        flats.append((wire.adapter.flatten(request), step.time))
        outputs.append(step.output_tokens)
        convs.append(step.conversation)
    return flats, outputs, convs


def simulate_runs(
    workloads: Sequence[Workload],
    strategies: Mapping[str, SessionFactory],
    providers: Sequence[tuple[str, str | None]],
    *,
    aliases: Mapping[str, str] | None = None,
) -> list[Run]:
    """Score every strategy on every workload under every ``(provider, model)``.

    Args:
        workloads: built workloads.
        strategies: name -> session factory.
        providers: ``(SIM_PROVIDERS name, model or None)`` pairs.
        aliases: strategy -> another strategy of ``strategies`` that sends
            the very same requests (the library default and the position it
            names); its runs are copied instead of played again.

    Returns:
        One ``Run`` per workload x strategy x provider, in that order.

    Raises:
        ValueError: an unknown provider name.

    >>> from stableprefix.benchmark._workloads import build_workload
    >>> runs = simulate_runs([build_workload("clock-chat", turns=3)],
    ...                      builtin_factories(["naive"]), [("radix", None)])
    >>> [(r.strategy, r.provider, r.requests) for r in runs]
    [('naive', 'radix', 3)]
    """
    for name, _model in providers:
        if name not in SIM_PROVIDERS:
            raise ValueError(
                f"unknown simulated provider {name!r}; choose from {', '.join(SIM_PROVIDERS)}"
            )
    aliases = dict(aliases or {})
    runs: list[Run] = []
    for workload in workloads:
        done: dict[str, list[Run]] = {}
        for strategy, factory in strategies.items():
            target = aliases.get(strategy)
            if target is not None and target in strategies and target != strategy:
                if target not in done:
                    done[target] = _play_scored(workload, target, strategies[target], providers)
                runs += [dataclasses.replace(r, strategy=strategy) for r in done[target]]
                continue
            if strategy not in done:
                done[strategy] = _play_scored(workload, strategy, factory, providers)
            runs += done[strategy]
    return runs


def _delay(delayed: bool, first_byte: float) -> dict[str, float]:
    return {"response_delay": first_byte} if delayed and first_byte else {}


def _play_scored(
    workload: Workload,
    strategy: str,
    factory: SessionFactory,
    providers: Sequence[tuple[str, str | None]],
) -> list[Run]:
    runs: list[Run] = []
    streams: dict[tuple[str, str | None, str], _Stream | str] = {}
    for name, model in providers:
        sim = SIM_PROVIDERS[name]
        # Anthropic markers and OpenAI breakpoints depend on the model; Gemini does not.
        key = (sim.wire, model if sim.wire in ("anthropic", "openai") else None, sim.engine)
        if key not in streams:
            wire = make_wire(sim.wire, key[1], engine=sim.engine)
            try:
                flats, outs, convs = flatten_run(workload, factory(workload, wire), wire)
            except Exception as exc:  # a strategy that cannot play: reported, not fatal
                streams[key] = f"{type(exc).__name__}: {exc}"
            else:
                streams[key] = (flats, outs, convs, ideal_reads(flats))
        stream = streams[key]
        if isinstance(stream, str):
            runs.append(
                Run(
                    workload=workload.name,
                    strategy=strategy,
                    provider=name,
                    model=model,
                    usage=CacheUsage(),
                    requests=0,
                    ideal_read=0,
                    cost=None,
                    cost_uncached=None,
                    error=stream,
                )
            )
            continue
        flats, outs, convs, ideal = stream
        cache = sim.make_cache(model)
        # Hosted caches make an entry readable when its response begins (the
        # step's first_byte); the local engines' models take no such delay.
        delayed = "response_delay" in inspect.signature(cache.process).parameters
        usages = [
            cache.process(f, now=t, output_tokens=o, **_delay(delayed, step.first_byte))
            for (f, t), o, step in zip(flats, outs, workload.steps, strict=True)
        ]
        runs.append(
            score(
                workload=workload.name,
                strategy=strategy,
                provider=name,
                model=model,
                usages=usages,
                ideal=ideal,
                conversations=convs,
                times=[t for _f, t in flats],
            )
        )
    return runs
