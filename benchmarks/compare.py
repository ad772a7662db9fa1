"""Cache cost: stableprefix next to llmbuffer 0.3.0 and LangChain's trim_messages.

Run it with the peers installed only into the benchmark's throw-away
environment (never into the project)::

    uv run --with llmbuffer==0.3.0 --with langchain-core python benchmarks/compare.py
    uv run --with llmbuffer==0.3.0 --with langchain-core python benchmarks/compare.py --json c.json

Approach: every library plays the same workloads (``stableprefix.benchmark``:
rag-chat, clock-chat, agent-loop, long-chat, multi-session) under the same
history budget, and every request is scored by the same cache models
(Anthropic rules with claude-sonnet-5-5, OpenAI automatic caching with
gpt-5-mini, vLLM blocks, and the ideal radix cache). Each peer is used the
way its documentation recommends:

- stableprefix: ``PromptManager`` with the provider's adapter,
  ``transition_mode="agent_cycle"``, ``history_max_tokens`` = the budget, and the
  library's default ``dynamic_position``.
- llmbuffer: its ``PromptManager`` as in its quickstart
  (``transition_mode="agent_cycle"``, ``history_max_tokens`` = the budget, the
  volatile context passed as ``dynamic_system_prompt``) with its
  ``AnthropicAdapter`` for the Anthropic rows (it marks the end of the
  static prompt and of long-lived history), and ``dynamic_system_role=
  "user"`` there, as its docs advise for providers without a mid-list
  system role. It builds an OpenAI-style list; for Anthropic the leading
  system message becomes ``system`` and tool calls/results become
  ``tool_use``/``tool_result`` blocks, markers kept where it put them.
- LangChain: ``trim_messages`` as its docstring recommends for chat
  history (``strategy="last"``, ``include_system=True``,
  ``start_on="human"``, ``end_on=("human", "tool")``), then
  ``convert_to_openai_messages``;
  the dynamic context goes last (the cache-friendly place), and for
  Anthropic markers sit on the system prompt and the last message.

All three count tokens with the same estimator (stableprefix's, which the
cache models also size requests with): llmbuffer through an adapter
subclass overriding ``count_tokens`` (its documented extension point),
LangChain through ``token_counter``. Otherwise the same nominal budget
would mean a different real history size per library (llmbuffer's own
estimate is characters / 4), and the comparison would measure token
counting instead of cache behaviour.

A request that a peer builds in a shape the API would refuse (history
starting with an assistant or tool message after a compaction) is repaired
the way a user would repair it, by dropping the leading messages up to the
next user message, and counted in the output.

Printed: per workload and cache model, each peer's bill relative to
stableprefix (cost; for local engines, prompt tokens computed), then the
checks: stableprefix costs no more than any peer anywhere, and less than
llmbuffer on agent-loop and long-chat under Anthropic rules. A peer that is
cheaper under vLLM by less than one 16-token block per request, while the
ideal radix cache bills both the same, ties (printed as a tie): the two send
the same reusable tokens, so only block alignment differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from stableprefix import AnthropicAdapter, OpenAIAdapter
from stableprefix.benchmark import (
    WORKLOADS,
    Message,
    Run,
    Step,
    Wire,
    Workload,
    build_workload,
    builtin_factories,
    simulate_runs,
    to_wire,
    tools_wire,
)

RUN_COMMAND = "uv run --with llmbuffer==0.3.0 --with langchain-core python benchmarks/compare.py"
PROVIDERS = (
    ("anthropic-sim", "claude-sonnet-5-5"),
    ("openai-sim", "gpt-5.6-terra"),
    ("vllm", None),
    ("radix", None),
)
#: What a user gets by doing nothing but turning the provider's feature on: the
#: very conversation stableprefix sends, with Anthropic's automatic caching
#: (one top-level cache_control) or OpenAI's implicit breakpoint only.
BASELINES = ("provider-auto",)
#: The conversation workloads. The fan-out ones send the same document in
#: every sub-request whatever the library (nothing to trim or order), and what
#: they measure, warming, is stableprefix's alone (benchmarks/warming.py).
COMPARED = tuple(w for w in WORKLOADS if not w.startswith("fan-out"))
PEERS = ("llmbuffer", "langchain-trim", *BASELINES)
Json = dict[str, Any]

REPAIRS: Counter[str] = Counter()  # peer -> requests repaired to be valid
_OVER = "langchain-trim: turn over budget"
# Every library counts tokens with the same estimator (the one the cache
# models size requests with), so all are held to the same history size.
_COUNTER = OpenAIAdapter()


def _count_list(_self: Any, messages: list[Json]) -> int:
    return sum(_COUNTER.count_tokens(m) for m in messages)


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        sys.exit(f"{module} is not importable; run this benchmark with:\n  {RUN_COMMAND}")


# ------------------------------------------------------- format conversion


def _repair(messages: list[Json], peer: str) -> list[Json]:
    """Drop leading assistant and tool messages (after the system prompt)."""
    head = [m for m in messages[:1] if m["role"] == "system"]
    body = messages[len(head) :]
    cut = 0
    while cut < len(body) - 1 and body[cut]["role"] in ("assistant", "tool"):
        cut += 1
    if cut:
        REPAIRS[peer] += 1
    return head + body[cut:]


def _text_blocks(content: Any) -> list[Json]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(b) for b in content]


def openai_to_anthropic(messages: list[Json], tools: list[Json]) -> Json:
    """An OpenAI-style message list (markers included) as an Anthropic request."""
    system: list[Json] = []
    out: list[Json] = []
    for m in messages:
        role = m["role"]
        if role == "system" and not out:
            system += _text_blocks(m["content"])
        elif role == "tool":
            blocks = _text_blocks(m["content"])
            marker = blocks[-1].pop("cache_control", None) if blocks else None
            result: Json = {
                "type": "tool_result",
                "tool_use_id": m["tool_call_id"],
                "content": blocks[0]["text"] if len(blocks) == 1 else blocks,
            }
            if marker:
                result["cache_control"] = marker
            if (
                out
                and out[-1]["role"] == "user"
                and isinstance(out[-1]["content"], list)
                and (out[-1]["content"][0].get("type") == "tool_result")
            ):
                out[-1]["content"].append(result)
            else:
                out.append({"role": "user", "content": [result]})
        elif role == "assistant" and m.get("tool_calls"):
            blocks = _text_blocks(m.get("content"))
            blocks += [
                {
                    "type": "tool_use",
                    "id": c["id"],
                    "name": c["function"]["name"],
                    "input": json.loads(c["function"]["arguments"]),
                }
                for c in m["tool_calls"]
            ]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": role, "content": m["content"]})
    request: Json = {"messages": out, "tools": tools}
    if system:
        request["system"] = system
    return request


def _mark(message: Json) -> Json:
    blocks = (
        _text_blocks(message["content"])
        if not isinstance(message["content"], list)
        else [dict(b) for b in message["content"]]
    )
    blocks[-1]["cache_control"] = {"type": "ephemeral"}
    return {**message, "content": blocks}


# ------------------------------------------------------------------ peers


class LLMBufferSession:
    """llmbuffer's PromptManager, one per conversation, as its quickstart shows."""

    def __init__(self, workload: Workload, wire: Wire) -> None:
        self.lb = _need("llmbuffer")
        self.workload = workload
        self.anthropic = wire.name == "anthropic"
        self.tools = tools_wire(wire.name, workload.tools)
        self.managers: dict[str, Any] = {}

    def _pm(self, conversation: str) -> Any:
        if conversation not in self.managers:
            base = self.lb.AnthropicAdapter if self.anthropic else self.lb.OpenAIAdapter
            adapter = type("CountedAdapter", (base,), {"count_tokens": _count_list})()
            self.managers[conversation] = self.lb.PromptManager(
                static_system_prompt=self.workload.static_prompt,
                transition_mode="agent_cycle",
                adapter=adapter,
                max_tokens=self.workload.history_budget,  # llmbuffer's own name for it
                dynamic_system_role="user" if self.anthropic else "system",
            )
        return self.managers[conversation]

    def request(self, step: Step) -> Json:
        pm = self._pm(step.conversation)
        for m in step.inputs:
            for wire_msg in to_wire("openai", m):
                pm.append(wire_msg)
        messages = _repair(pm.build_messages(dynamic_system_prompt=step.context), "llmbuffer")
        if self.anthropic:
            return openai_to_anthropic(messages, self.tools)
        return {"messages": messages, "tools": self.tools}

    def reply(self, step: Step) -> None:
        for wire_msg in to_wire("openai", step.reply):
            self._pm(step.conversation).append(wire_msg)


class LangChainTrimSession:
    """A chat history trimmed by ``trim_messages`` before every request."""

    def __init__(self, workload: Workload, wire: Wire) -> None:
        self.lc = _need("langchain_core.messages")
        self.anthropic = wire.name == "anthropic"
        self.tools = tools_wire(wire.name, workload.tools)
        system = self.lc.SystemMessage(workload.static_prompt)
        self.system = system
        self.counts = {}
        self.budget = workload.history_budget + self._count(system)
        self.histories: dict[str, list[Any]] = {}

    def _convert(self, m: Message) -> list[Any]:
        lc = self.lc
        if m.role == "user":
            return [lc.HumanMessage(m.text)]
        if m.role == "tool":
            return [lc.ToolMessage(r.content, tool_call_id=r.call_id) for r in m.results]
        calls = [
            {"name": c.name, "args": dict(c.arguments), "id": c.id, "type": "tool_call"}
            for c in m.calls
        ]
        return [lc.AIMessage(m.text, tool_calls=calls)]

    def request(self, step: Step) -> Json:
        history = self.histories.setdefault(step.conversation, [self.system])
        for m in step.inputs:
            history += self._convert(m)
        kept = self.lc.trim_messages(
            history,
            max_tokens=self.budget,
            strategy="last",
            token_counter=self._count,
            include_system=True,
            start_on="human",
            end_on=("human", "tool"),
        )
        if len(kept) == 1:
            # The turn in progress alone is over budget and trim_messages kept only the
            # system prompt; a user must at least send the current round.
            last = max(i for i, m in enumerate(history) if m.type == "human")
            kept = [self.system, *history[last:]]
            REPAIRS[_OVER] += 1
        messages = _repair(self.lc.convert_to_openai_messages(kept), "langchain-trim")
        if not self.anthropic:
            if step.context:
                messages.append({"role": "system", "content": step.context})
            return {"messages": messages, "tools": self.tools}
        request = openai_to_anthropic(messages, self.tools)
        request["system"][-1]["cache_control"] = {"type": "ephemeral"}
        request["messages"][-1] = _mark(request["messages"][-1])
        if step.context:
            request["messages"].append({"role": "user", "content": step.context})
        return request

    def _count(self, messages: Any) -> int:
        batch = messages if isinstance(messages, list) else [messages]
        total = 0
        for m in batch:  # trim_messages counts many sublists: count each message once
            hit = self.counts.get(id(m))
            if hit is None or hit[0] is not m:
                hit = self.counts[id(m)] = (
                    m,
                    _COUNTER.count_tokens(self.lc.convert_to_openai_messages(m)),
                )
            total += hit[1]
        return total

    def reply(self, step: Step) -> None:
        self.histories[step.conversation] += self._convert(step.reply)


def provider_auto(workload: Workload, wire: Wire) -> Any:
    """stableprefix's own session with the provider's automatic caching instead of its plan.

    Anthropic: ``cache_strategy="automatic"`` (a top-level ``cache_control``,
    none of our markers); OpenAI: no breakpoints of ours, so GPT-5.6+ caches
    at its implicit breakpoint only. Local engines have nothing to turn on.
    """
    if wire.name == "anthropic":
        adapter: Any = AnthropicAdapter(model=wire.model, cache_strategy="automatic")
        wire = Wire(wire.name, adapter, wire.model)
    elif wire.name == "openai" and wire.adapter.model is not None:  # type: ignore[attr-defined]
        wire = Wire(wire.name, OpenAIAdapter(), wire.model)
    return builtin_factories(["stableprefix"])["stableprefix"](workload, wire)


# ----------------------------------------------------------------- report


#: Cells where a peer undercut stableprefix by block alignment alone (see _block_tie).
TIES: list[str] = []
_VLLM_BLOCK = 16  # tokens per KV block (vLLM's default on CUDA)


def _block_tie(by: dict[tuple[str, str, str], Run], w: str, p: str, peer: str) -> bool:
    """Whether a peer's lower vLLM bill is block alignment, not a better prefix.

    The ideal radix cache reuses every shared token, so equal radix bills mean
    both sides send the same reusable tokens: there is no stable prefix for
    either to win on (e.g. clock-chat, whose history never reaches the budget,
    so trimming never happens). vLLM then differs only in where the content
    falls on its 16-token block boundaries, by less than a block a request.
    """
    ours, theirs = by[(w, p, "stableprefix")], by[(w, p, peer)]
    radix_ours, radix_theirs = by.get((w, "radix", "stableprefix")), by.get((w, "radix", peer))
    return (
        p == "vllm"
        and radix_ours is not None
        and radix_theirs is not None
        and radix_ours.bill == radix_theirs.bill
        and ours.bill - theirs.bill < _VLLM_BLOCK * ours.requests
    )


def _table(runs: list[Run]) -> tuple[str, list[str], dict[str, Any]]:
    by = {(r.workload, r.provider, r.strategy): r for r in runs}
    cells = sorted(
        {(r.workload, r.provider) for r in runs},
        key=lambda k: (WORKLOADS.index(k[0]), [p for p, _ in PROVIDERS].index(k[1])),
    )
    head = ["workload", "cache model", "stableprefix", *(f"{p} / sp" for p in PEERS), "ok"]
    lines, failures, data = [], [], []
    TIES.clear()
    for w, p in cells:
        ours = by[(w, p, "stableprefix")]
        unit = "$" if ours.cost is not None else "tok"
        row = {"workload": w, "provider": p, "stableprefix": ours.bill, "unit": unit}
        ratios = []
        for peer in PEERS:
            theirs = by[(w, p, peer)]
            ratio = theirs.bill / ours.bill if ours.bill else 1.0
            row[peer] = theirs.bill
            ratios.append(ratio)
            if theirs.bill < ours.bill and _block_tie(by, w, p, peer):
                TIES.append(f"{w} / {p}: {peer} {ours.bill - theirs.bill:,.0f} tok less")
                ratios[-1] = 1.0
            elif theirs.bill < ours.bill:
                failures.append(f"{w} / {p}: {peer} costs {ratio:.3f}x stableprefix")
        auto = by[(w, p, "provider-auto")].bill
        if p == "openai-sim" and w in ("multi-session", "agent-loop") and not auto > ours.bill:
            failures.append(f"{w} / {p}: stableprefix is not cheaper than implicit caching")
        strict = p == "anthropic-sim" and w in ("agent-loop", "long-chat")
        if strict and not by[(w, p, "llmbuffer")].bill > ours.bill:
            failures.append(f"{w} / {p}: stableprefix is not cheaper than llmbuffer")
        ok = all(r >= 1.0 for r in ratios) and (not strict or ratios[0] > 1.0)
        shown = f"${ours.bill:.4f}" if unit == "$" else f"{ours.bill:,.0f} tok"
        lines.append([w, p, shown, *(f"{r:.3f}x" for r in ratios), "yes" if ok else "NO"])
        data.append(row)
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(wd) for h, wd in zip(head, widths, strict=True))]
    out.append("  ".join("-" * wd for wd in widths))
    out += [
        "  ".join(
            c.ljust(wd) if i < 2 else c.rjust(wd)
            for i, (c, wd) in enumerate(zip(x, widths, strict=True))
        )
        for x in lines
    ]
    return "\n".join(out), failures, {"cells": data}


#: The model that accepts mid-conversation system messages (see AnthropicAdapter).
SYSTEM_CONTEXT_MODEL = "claude-opus-4-8"


def system_context(workload: Workload, wire: Wire) -> Any:
    """stableprefix with the dynamic context as a mid-conversation system message."""
    adapter = AnthropicAdapter(model=wire.model, context_role="system")
    return builtin_factories(["stableprefix"])["stableprefix"](
        workload, Wire(wire.name, adapter, wire.model)
    )


def _system_context_table(workloads: list[Workload]) -> str:
    """The default (context as a user message) against the context as a system message."""
    runs = simulate_runs(
        workloads,
        {**builtin_factories(["stableprefix"]), "system-context": system_context},
        [("anthropic-sim", SYSTEM_CONTEXT_MODEL)],
    )
    by = {(r.workload, r.strategy): r for r in runs}
    lines = [f"{'workload':<14} {'user context':>13} {'system context':>15} {'system / user':>14}"]
    for w in dict.fromkeys(r.workload for r in runs):
        user, system = by[(w, "stableprefix")], by[(w, "system-context")]
        if user.error or system.error:
            lines.append(f"{w:<14} failed: {user.error or system.error}")
            continue
        lines.append(
            f"{w:<14} {f'${user.bill:.4f}':>13} {f'${system.bill:.4f}':>15} "
            f"{system.bill / user.bill:>13.3f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=[*COMPARED, "all"], default="all")
    parser.add_argument("--turns", type=int, default=None, help="turns per conversation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    lb, lc = _need("llmbuffer"), _need("langchain_core")
    names = COMPARED if args.workload == "all" else (args.workload,)
    workloads = [build_workload(n, turns=args.turns, seed=args.seed) for n in names]
    factories = {
        **builtin_factories(["stableprefix"]),
        "llmbuffer": LLMBufferSession,
        "langchain-trim": LangChainTrimSession,
        "provider-auto": provider_auto,
    }
    runs = simulate_runs(workloads, factories, PROVIDERS)
    broken = [r for r in runs if r.error]
    for r in broken:
        print(f"FAIL: {r.workload} / {r.provider} / {r.strategy} could not run: {r.error}")
    if broken:
        return 1
    table, failures, data = _table(runs)
    print(
        f"stableprefix vs llmbuffer {lb.__version__} and langchain-core {lc.__version__} "
        f"trim_messages; seed {args.seed}; bill = cost in USD ($) or prompt tokens the "
        "engine computes (tok); peer / sp > 1 means the peer costs more.\n"
    )
    print(table)
    print()
    if REPAIRS["llmbuffer"]:
        print(
            f"note: {REPAIRS['llmbuffer']} llmbuffer requests (over all cache models) began "
            "with an assistant or tool message after its compaction, which the APIs refuse; "
            "they were repaired by dropping those leading messages"
        )
    if REPAIRS[_OVER]:
        print(
            f"note: in {REPAIRS[_OVER]} langchain-trim requests the turn in progress alone was "
            "over budget and trim_messages kept only the system prompt; the whole turn was "
            "sent instead (as stableprefix always keeps it)"
        )
    for line in TIES:
        print(
            f"tie: {line} under vllm, but the same under the ideal radix cache: both send the "
            "same reusable tokens (nothing to gain), and the gap is under one 16-token block "
            "a request (where the content falls on block boundaries); counted as 1.000x"
        )
    for line in failures:
        print("FAIL:", line)
    if not failures:
        print(
            "PASS: stableprefix costs no more than any peer in every cell, and less than "
            "llmbuffer on agent-loop and long-chat under Anthropic rules"
        )
    print(
        f"\nThe dynamic context as a mid-conversation system message ({SYSTEM_CONTEXT_MODEL}, "
        "AnthropicAdapter(context_role='system')) against the default user message, "
        "anthropic-sim, cost in USD:\n"
    )
    print(_system_context_table(workloads))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({**data, "failures": failures, "repairs": dict(REPAIRS)}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
