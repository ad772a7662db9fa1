"""Fan-out with and without a warm-up request, under each provider's cache rules.

An agent holds tools, a static prompt and a large shared context (committed
history), then sends N sub-requests in parallel, each adding its own small
task. A provider makes a new cache entry readable only once the response of
the request that wrote it begins, so N cold parallel requests each pay for
the whole prefix. With warming, ``build_warmup_request`` goes first (one
output token) and the N follow once its response has begun.

Everything runs in the simulator (``stableprefix.sim``, read-after-response-
begins) with the model registry's prices; nothing is sent anywhere. Output
tokens of the sub-requests are the same in both runs and left out; the
warm-up's one output token is counted.

    uv run python benchmarks/warming.py [--fan-out 8] [--context-tokens 20000]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from stableprefix import (
    AnthropicAdapter,
    CacheUsage,
    GeminiAdapter,
    OpenAIAdapter,
    PromptConfig,
    estimate_cost,
    get_prices,
    new_state,
)
from stableprefix import functional as F
from stableprefix.adapters import ProviderAdapter
from stableprefix.sim import cache_for_model

STATIC = "You are a research agent. Check every figure against the filing and cite it. " * 100
SECTION = "Segment {n}: revenue, margins and guidance changed as follows in the quarter. "
FIRST_BYTE = 1.5  # seconds from sending a request to the first byte of its response

Message = dict[str, Any]

#: (label, model, adapter factory, user message, assistant message, tool definition)
CELLS: list[tuple[str, str, Callable[[str], ProviderAdapter],
                  Callable[[str], Message], Callable[[str], Message], Message]] = [
    ("Anthropic", "claude-sonnet-5-5", lambda m: AnthropicAdapter(model=m),
     lambda t: {"role": "user", "content": t}, lambda t: {"role": "assistant", "content": t},
     {"name": "search", "description": "Search the filing.",
      "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}),
    ("OpenAI GPT-5.6", "gpt-5.6-terra", lambda m: OpenAIAdapter(model=m),
     lambda t: {"role": "user", "content": t}, lambda t: {"role": "assistant", "content": t},
     {"type": "function", "function": {"name": "search", "description": "Search the filing.",
      "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}),
    ("OpenAI GPT-5", "gpt-5", lambda m: OpenAIAdapter(model=m),
     lambda t: {"role": "user", "content": t}, lambda t: {"role": "assistant", "content": t},
     {"type": "function", "function": {"name": "search", "description": "Search the filing.",
      "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}),
    ("Gemini 3.8 Flash", "gemini-3.8-flash", lambda m: GeminiAdapter(),
     lambda t: {"role": "user", "parts": [{"text": t}]},
     lambda t: {"role": "model", "parts": [{"text": t}]},
     {"name": "search", "description": "Search the filing.",
      "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}),
]


def _run(cell: Any, fan_out: int, context_tokens: int, warm: bool) -> tuple[float, CacheUsage]:
    _label, model, make, user, assistant, tool = cell
    adapter = make(model)
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=adapter, tools=[tool],
                       transition_mode="agent_cycle")
    words = max(1, context_tokens // 14)
    context = " ".join(SECTION.format(n=n % 97) for n in range(words))
    state = F.append_messages(new_state(), [user("Read this filing:\n" + context),
                                            assistant("Read. Ready for sub-tasks.")], cfg)
    cache = cache_for_model(model)
    prices = get_prices(model)
    cost, total, start = 0.0, CacheUsage(), 0.0
    if warm:
        usage = cache.process(adapter.flatten(F.build_warmup_request(state, cfg)), now=0.0,
                              output_tokens=1, response_delay=FIRST_BYTE)
        cost, total, start = estimate_cost(usage, prices), usage, FIRST_BYTE
    for n in range(fan_out):  # all sent at once
        sub = F.append_message(state, user(f"Sub-task {n}: check segment {n} figures."), cfg)
        usage = cache.process(adapter.flatten(F.build_request(sub, cfg)), now=start,
                              response_delay=FIRST_BYTE)
        cost += estimate_cost(usage, prices)
        total = total + usage
    return cost, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fan-out", type=int, default=8, help="parallel sub-requests (8)")
    parser.add_argument("--context-tokens", type=int, default=20000,
                        help="size of the shared context (20000)")
    args = parser.parse_args(argv)
    if args.fan_out < 1 or args.context_tokens < 1:
        parser.error("--fan-out and --context-tokens must be >= 1")
    print(f"Fan-out of {args.fan_out} parallel sub-requests over a shared prefix "
          f"(~{args.context_tokens:,} context tokens); input cost in USD, simulated.")
    print(f"{'provider':<18} {'model':<18} {'cold':>9} {'warmed':>9} {'ratio':>6} "
          f"{'read cold':>10} {'read warm':>10}")
    for cell in CELLS:
        cold, cold_u = _run(cell, args.fan_out, args.context_tokens, warm=False)
        hot, hot_u = _run(cell, args.fan_out, args.context_tokens, warm=True)
        print(f"{cell[0]:<18} {cell[1]:<18} {cold:>9.4f} {hot:>9.4f} {hot / cold:>6.2f} "
              f"{cold_u.hit_ratio:>10.0%} {hot_u.hit_ratio:>10.0%}")
    print()
    print(_workload_table(args.fan_out))
    return 0


def _workload_table(fan_out: int) -> str:
    """The benchmark CLI's fan-out and fan-out-warm workloads, scored the same way.

    Their document and tasks are the workload's own, and the cost includes
    output tokens (as in the benchmark report), so only the ratios and the
    shares read compare with the table above.
    """
    from stableprefix.benchmark import build_workload, builtin_factories, simulate_runs

    providers = [("anthropic-sim", "claude-sonnet-5-5"), ("openai-sim", "gpt-5.6-terra"),
                 ("openai-sim", "gpt-5"), ("gemini-sim", "gemini-3.8-flash")]
    workloads = [build_workload(n, turns=fan_out) for n in ("fan-out", "fan-out-warm")]
    runs = simulate_runs(workloads, builtin_factories(["stableprefix"]), providers)
    cold = {r.model: r for r in runs if r.workload == "fan-out"}
    warm = {r.model: r for r in runs if r.workload == "fan-out-warm"}
    lines = [f"The benchmark's workloads (python -m stableprefix.benchmark --workload fan-out / "
             f"fan-out-warm --turns {fan_out}); cost with output tokens:",
             f"{'cache model':<14} {'model':<18} {'cold':>9} {'warmed':>9} {'ratio':>6} "
             f"{'read cold':>10} {'read warm':>10}"]
    for name, model in providers:
        c, h = cold[model], warm[model]
        lines.append(f"{name:<14} {model:<18} {c.bill:>9.4f} {h.bill:>9.4f} "
                     f"{h.bill / c.bill:>6.2f} {c.usage.hit_ratio:>10.0%} "
                     f"{h.usage.hit_ratio:>10.0%}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
