"""Benchmark workloads and strategies: determinism, sizes, valid requests."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import pytest

from stableprefix._sequence import check_sequence
from stableprefix.benchmark import (
    STRATEGIES,
    WORKLOADS,
    build_workload,
    make_session,
    make_wire,
    play,
)
from stableprefix.benchmark._text import approx_tokens
from stableprefix.sim import AnthropicCache

SMALL = {"rag-chat": 4, "clock-chat": 3, "agent-loop": 2, "long-chat": 30, "multi-session": 2,
         "fan-out": 3, "fan-out-warm": 3}  # fmt: skip
CHATS = [w for w in WORKLOADS if not w.startswith("fan-out")]


@pytest.mark.parametrize("name", WORKLOADS)
def test_same_seed_same_workload_other_seed_other(name: str) -> None:
    a = build_workload(name, turns=SMALL[name], seed=3)
    assert a == build_workload(name, turns=SMALL[name], seed=3)
    b = build_workload(name, turns=SMALL[name], seed=4)
    assert [s.inputs for s in a.steps] != [s.inputs for s in b.steps]


@pytest.mark.parametrize("name", CHATS)
def test_turns_scale_user_turns_per_conversation(name: str) -> None:
    w = build_workload(name, turns=SMALL[name])
    user_turns = Counter(s.conversation for s in w.steps for m in s.inputs if m.role == "user")
    assert set(user_turns.values()) == {SMALL[name]}
    assert set(user_turns) == set(w.conversations)


@pytest.mark.parametrize("name", WORKLOADS)
def test_time_runs_forward_within_each_conversation(name: str) -> None:
    w = build_workload(name, turns=SMALL[name])
    last: dict[str, float] = {}
    for s in w.steps:
        assert s.time >= last.get(s.conversation, 0.0)
        last[s.conversation] = s.time
    assert [s.time for s in w.steps] == sorted(s.time for s in w.steps)


def test_static_part_is_a_few_thousand_tokens() -> None:
    w = build_workload("clock-chat", turns=1)
    assert 2500 <= w.static_tokens <= 6000
    assert len(w.tools) >= 8


def test_rag_context_is_1_to_2k_tokens_and_rotates_every_three_turns() -> None:
    w = build_workload("rag-chat", turns=9)
    contexts = [s.context or "" for s in w.steps]
    assert all(800 <= approx_tokens(c) <= 2200 for c in contexts)
    assert contexts[0] == contexts[2] != contexts[3] == contexts[5] != contexts[6]


def test_clock_changes_every_turn() -> None:
    contexts = [s.context for s in build_workload("clock-chat", turns=6).steps]
    assert len(set(contexts)) == 6


def test_agent_loop_cycles_and_tool_outputs() -> None:
    w = build_workload("agent-loop", turns=3)
    calls = [s for s in w.steps if s.reply.calls]
    finals = [s for s in w.steps if not s.reply.calls]
    assert len(finals) == 3
    assert 15 <= len(calls) <= 45
    answered = {r.call_id for s in w.steps for m in s.inputs for r in m.results}
    assert answered == {c.id for s in calls for c in s.reply.calls}
    sizes = [approx_tokens(r.content) for s in w.steps for m in s.inputs for r in m.results]
    assert min(sizes) >= 450 and max(sizes) <= 3600
    gaps = [b.time - a.time for a, b in zip(w.steps, w.steps[1:], strict=False) if a.reply.calls]
    assert all(2 <= g <= 12 for g in gaps)


def test_multi_session_interleaves_conversations() -> None:
    w = build_workload("multi-session", turns=3)
    order = [s.conversation for s in w.steps]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert len(w.conversations) == 6 and switches >= 6


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown workload 'chat'"):
        build_workload("chat")
    with pytest.raises(ValueError, match="between 1 and"):
        build_workload("rag-chat", turns=0)
    with pytest.raises(TypeError, match="turns must be an int"):
        build_workload("rag-chat", turns="3")  # type: ignore[arg-type]


# ------------------------------------------------------------- strategies


def _check_request(fmt: str, request: dict[str, Any], wire: Any) -> None:
    adapter = wire.adapter
    if fmt == "openai":
        messages = request["messages"]
        assert messages[0]["role"] == "system"
        body = [m for m in messages if m["role"] != "system"]
    elif fmt == "anthropic":
        body = messages = request["messages"]
        assert isinstance(request["system"], list)
        AnthropicCache().process(adapter.flatten(request), now=0)  # <= 4 markers, TTL order
    else:
        body = messages = request["contents"]
        assert request["config"]["system_instruction"]
        roles = [m["role"] for m in messages]
        assert all(a != b for a, b in itertools.pairwise(roles))  # Gemini alternates roles
    for i, m in enumerate(body):
        adapter.validate_message(m, index=i)
    assert check_sequence(body, adapter) == ()
    assert adapter.is_user_turn(body[0]) or fmt == "openai"
    json.dumps(request)  # plain JSON


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_builds_valid_requests(strategy: str, fmt: str) -> None:
    wire = make_wire(fmt, "claude-sonnet-4-5" if fmt == "anthropic" else None)
    for name in ("agent-loop", "long-chat"):
        w = build_workload(name, turns=SMALL[name])
        w = type(w)(
            **{**{f: getattr(w, f) for f in w.__dataclass_fields__}, "history_budget": 3000}
        )  # force trimming and compaction
        for step, request in play(w, make_session(strategy, w, wire)):
            _check_request(fmt, request, wire)
            assert step.conversation


def test_naive_puts_the_context_in_the_system_prompt_and_one_marker_last() -> None:
    w = build_workload("clock-chat", turns=2)
    wire = make_wire("anthropic", "claude-sonnet-4-5")
    requests = [r for _s, r in play(w, make_session("naive", w, wire))]
    assert w.steps[1].context in requests[1]["system"][0]["text"]
    flat = wire.adapter.flatten(requests[1])
    assert flat.marker_count == 1 and flat.blocks[-1].cache_ttl == "5m"


def test_sliding_window_trims_every_turn_once_full() -> None:
    w = build_workload("long-chat", turns=40)
    w = type(w)(**{**{f: getattr(w, f) for f in w.__dataclass_fields__}, "history_budget": 2000})
    wire = make_wire("openai")
    firsts = [
        r["messages"][1]["content"] for _s, r in play(w, make_session("sliding-window", w, wire))
    ]
    assert len(set(firsts[-10:])) >= 5  # the first kept message keeps moving


def test_stableprefix_shares_routing_across_conversations_by_default() -> None:
    w = build_workload("multi-session", turns=1)
    wire = make_wire("openai")
    requests = [r for _s, r in play(w, make_session("stableprefix", w, wire))]
    assert requests and not any("prompt_cache_key" in r for r in requests)


def fan_out_runs(name: str) -> dict[tuple[str, str], Any]:
    from stableprefix.benchmark import builtin_factories, simulate_runs

    providers = [("anthropic-sim", "claude-sonnet-5-5"), ("openai-sim", "gpt-5.6-terra"),
                 ("gemini-sim", "gemini-3.8-flash"), ("radix", None)]  # fmt: skip
    runs = simulate_runs(
        [build_workload(name, turns=4)], builtin_factories(["stableprefix", "naive"]), providers
    )
    return {(r.provider, r.strategy): r for r in runs}


def test_fan_out_cold_sub_requests_all_pay_the_write_on_hosted_caches() -> None:
    # "a cache entry only becomes available after the first response begins.
    # If you need cache hits for parallel requests, wait for the first
    # response" (Anthropic prompt caching guide; the simulator applies it to
    # every hosted provider).
    w = build_workload("fan-out", turns=4)
    assert len(w.steps) == 4 and len({s.time for s in w.steps}) == 1
    assert all(s.first_byte > 0 and not s.warmup for s in w.steps)
    runs = fan_out_runs("fan-out")
    for provider in ("anthropic-sim", "openai-sim", "gemini-sim"):
        run = runs[(provider, "stableprefix")]
        assert [t.usage.cache_read_tokens for t in run.turns] == [0, 0, 0, 0], provider
    # the ideal cache, which has no such delay, reads the shared document three times
    radix = runs[("radix", "stableprefix")]
    assert [t.usage.cache_read_tokens > 15000 for t in radix.turns] == [False, True, True, True]


def test_fan_out_after_a_warm_up_reads_the_shared_prefix_everywhere() -> None:
    w = build_workload("fan-out-warm", turns=4)
    warm, *subs = w.steps
    assert warm.warmup and warm.output_tokens == 1 and not any(s.warmup for s in subs)
    assert all(s.time == warm.time + warm.first_byte for s in subs)
    cold, hot = fan_out_runs("fan-out"), fan_out_runs("fan-out-warm")
    for provider in ("anthropic-sim", "openai-sim", "gemini-sim"):
        run = hot[(provider, "stableprefix")]
        reads = [t.usage.cache_read_tokens for t in run.turns]
        assert reads[0] == 0 and all(r > 15000 for r in reads[1:]), (provider, reads)
        assert run.cost < 0.5 * cold[(provider, "stableprefix")].cost, provider
    # the warm-up is the smallest request writing the shared prefix: no sub-task in it
    wire = make_wire("anthropic", "claude-sonnet-5-5")
    request = next(iter(play(w, make_session("stableprefix", w, wire))))[1]
    assert "Sub-task" not in json.dumps(request)


def test_unknown_strategy() -> None:
    w = build_workload("clock-chat", turns=1)
    with pytest.raises(ValueError, match="unknown strategy 'fancy'"):
        make_session("fancy", w, make_wire("openai"))
