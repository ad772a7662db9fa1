"""The benchmark: what stableprefix saves on realistic traffic.

Workloads (``rag-chat``, ``clock-chat``, ``agent-loop``, ``long-chat``,
``multi-session``, and ``fan-out`` / ``fan-out-warm``: parallel sub-requests
over one shared document, cold or after a warm-up request) are
provider-neutral scripts of timed requests.
Strategies (the library with each ``dynamic_position``, a naive client, a
sliding window) turn them into provider requests, and the cache simulators
of ``stableprefix.sim`` (or a live provider) score them. Run it with
``python -m stableprefix.benchmark`` or ``stableprefix-benchmark``; with no
arguments it runs offline and needs no key. ``--truth-check`` instead plays
a short chat through the real llama.cpp engine (xllamacpp with SmolLM2) and
prints, request by request, the cached tokens it reported beside what the
``llamacpp`` cache model predicts.

The pieces are importable for other comparisons (``benchmarks/compare.py``
plays other libraries through the same workloads and cache models):

>>> from stableprefix.benchmark import build_workload, builtin_factories, simulate_runs
>>> runs = simulate_runs([build_workload("clock-chat", turns=4)],
...                      builtin_factories(["stableprefix", "naive"]), [("radix", None)])
>>> [r.strategy for r in runs]
['stableprefix', 'naive']
"""

from ._cli import main
from ._report import render, rows
from ._run import SessionFactory, builtin_factories, flatten_run, simulate_runs
from ._score import SIM_PROVIDERS, SIMULATED, Run, SimProvider, TurnRecord, ideal_reads, score
from ._strategies import DEFAULT_STRATEGY, STRATEGIES, Session, make_session, play
from ._wire import Wire, make_wire, to_wire, tools_wire
from ._workloads import (
    DEFAULT_TURNS,
    WORKLOADS,
    Message,
    Step,
    ToolCall,
    ToolResult,
    ToolSpec,
    Workload,
    build_workload,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "DEFAULT_TURNS",
    "SIMULATED",
    "SIM_PROVIDERS",
    "STRATEGIES",
    "WORKLOADS",
    "Message",
    "Run",
    "Session",
    "SessionFactory",
    "SimProvider",
    "Step",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "TurnRecord",
    "Wire",
    "Workload",
    "build_workload",
    "builtin_factories",
    "flatten_run",
    "ideal_reads",
    "main",
    "make_session",
    "make_wire",
    "play",
    "render",
    "rows",
    "score",
    "simulate_runs",
    "to_wire",
    "tools_wire",
]
