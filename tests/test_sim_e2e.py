"""End to end: PromptManager requests, flattened by their adapter, fed to the
simulators. A stable layout must hit; a timestamp at the top of the system
prompt (the naive layout) must destroy the hits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stableprefix import (
    AnthropicAdapter,
    CacheUsage,
    FlatRequest,
    OpenAIAdapter,
    PromptConfig,
    PromptManager,
)
from stableprefix.adapters import ProviderAdapter
from stableprefix.pricing import estimate_cost, get_prices
from stableprefix.sim import (
    AnthropicCache,
    CacheModel,
    LlamaCppCache,
    OpenAICache,
    RadixCache,
    VLLMCache,
    simulate,
)

POLICY = "You answer questions about orders for a small bookshop. " + " ".join(
    f"Rule {i}: be exact about dates, prices and the refund window of thirty days."
    for i in range(90)
)
SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}


def _tool(adapter: ProviderAdapter) -> dict[str, Any]:
    if adapter.name == "anthropic":
        return {"name": "lookup_order", "description": "Find an order.", "input_schema": SCHEMA}
    return {
        "type": "function",
        "function": {"name": "lookup_order", "description": "Find an order.", "parameters": SCHEMA},
    }


def _user(adapter: ProviderAdapter, text: str) -> dict[str, Any]:
    if adapter.name == "anthropic":
        return {"role": "user", "content": [{"type": "text", "text": text}]}
    return {"role": "user", "content": text}


def _call(adapter: ProviderAdapter, call_id: str) -> list[dict[str, Any]]:
    """An assistant tool call and the message answering it."""
    args = {"order": call_id}
    if adapter.name == "anthropic":
        use = {"type": "tool_use", "id": call_id, "name": "lookup_order", "input": args}
        result = {"type": "tool_result", "tool_use_id": call_id, "content": f"{call_id}: shipped"}
        return [
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [result]},
        ]
    fn = {"name": "lookup_order", "arguments": f'{{"order": "{call_id}"}}'}
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": fn}],
        },
        {"role": "tool", "tool_call_id": call_id, "content": f"{call_id}: shipped"},
    ]


def _stamp_system(request: dict[str, Any], stamp: str) -> dict[str, Any]:
    """What a naive app does: the clock at the top of the system prompt."""
    out = dict(request)
    if "system" in out:  # Anthropic: a top-level list of text blocks
        first = dict(out["system"][0])
        first["text"] = f"{stamp}\n{first['text']}"
        out["system"] = [first, *out["system"][1:]]
    else:
        first = dict(out["messages"][0])
        first["content"] = f"{stamp}\n{first['content']}"
        out["messages"] = [first, *out["messages"][1:]]
    return out


def conversation(
    adapter: ProviderAdapter, *, naive: bool, turns: int = 10
) -> list[tuple[FlatRequest, float]]:
    """An agent conversation: each turn a question, one tool call, an answer.

    Two requests per turn, 15 s apart; the clock changes every request.
    """
    config = PromptConfig(
        static_system_prompt=POLICY,
        tools=[_tool(adapter)],
        adapter=adapter,
        transition_mode="agent_cycle",
    )
    pm = PromptManager(config)
    timed: list[tuple[FlatRequest, float]] = []
    now = 0.0

    def send() -> None:
        nonlocal now
        stamp = f"Current time: 2026-11-22T10:{int(now) // 60:02d}:{int(now) % 60:02d}Z"
        if naive:
            request = _stamp_system(pm.build_request(), stamp)
        else:
            request = pm.build_request(dynamic_system_prompt=stamp)
        timed.append((adapter.flatten(request), now))
        now += 15.0

    for turn in range(turns):
        pm.append(_user(adapter, f"Where is order {turn}? It was placed last week."))
        send()
        call, result = _call(adapter, f"call_{turn}")
        pm.append(call)
        pm.append(result)
        send()
        pm.append({"role": "assistant", "content": f"Order {turn} has shipped and arrives soon."})
    return timed


def ratio(usages: list[CacheUsage]) -> float:
    total = sum(usages, CacheUsage())
    return total.hit_ratio


OPENAI_MODELS: dict[str, Callable[[], CacheModel]] = {
    "openai": lambda: OpenAICache(model="gpt-5"),
    "radix": RadixCache,
    "vllm": VLLMCache,
    "llamacpp": LlamaCppCache,
}
ANTHROPIC_MODELS: dict[str, Callable[[], CacheModel]] = {
    "anthropic": lambda: AnthropicCache(model="claude-sonnet-4-5"),
    "radix": RadixCache,
    "vllm": VLLMCache,
    "llamacpp": LlamaCppCache,
}
CASES = [("openai", OpenAIAdapter(), name, make) for name, make in OPENAI_MODELS.items()] + [
    ("anthropic", AnthropicAdapter(), name, make) for name, make in ANTHROPIC_MODELS.items()
]


def test_the_conversation_is_big_enough_to_cache() -> None:
    for adapter in (OpenAIAdapter(), AnthropicAdapter()):
        first = conversation(adapter, naive=False)[0][0]
        assert first.total_tokens > 1100, adapter.name


@pytest.mark.parametrize(
    ("fmt", "adapter", "model", "make"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
def test_stable_layout_hits_and_naive_layout_does_not(
    fmt: str, adapter: ProviderAdapter, model: str, make: Callable[[], CacheModel]
) -> None:
    stable = ratio(simulate(make(), conversation(adapter, naive=False)))
    naive = ratio(simulate(make(), conversation(adapter, naive=True)))
    assert stable > 0.8, (fmt, model, stable)
    assert naive < 0.1, (fmt, model, naive)


@pytest.mark.parametrize(
    ("adapter", "make", "price"),
    [
        (OpenAIAdapter(), lambda: OpenAICache(model="gpt-5"), "gpt-5"),
        (
            AnthropicAdapter(),
            lambda: AnthropicCache(model="claude-sonnet-4-5"),
            "claude-sonnet-4-5",
        ),
    ],
)
def test_the_stable_layout_is_cheaper(
    adapter: ProviderAdapter, make: Callable[[], CacheModel], price: str
) -> None:
    prices = get_prices(price)
    stable = sum(simulate(make(), conversation(adapter, naive=False)), CacheUsage())
    naive = sum(simulate(make(), conversation(adapter, naive=True)), CacheUsage())
    assert estimate_cost(stable, prices) < 0.5 * estimate_cost(naive, prices)


def test_anthropic_naive_layout_pays_for_writes_every_time() -> None:
    usages = simulate(
        AnthropicCache(model="claude-sonnet-4-5"), conversation(AnthropicAdapter(), naive=True)
    )
    # every request rewrites the whole prefix (1.25x) and never reads it back
    assert all(u.cache_read_tokens == 0 for u in usages)
    assert all(u.cache_write_tokens > 1000 for u in usages)


def test_anthropic_markers_stay_within_the_limit() -> None:
    for request, _ in conversation(AnthropicAdapter(), naive=False, turns=20):
        assert 1 <= request.marker_count <= 4
