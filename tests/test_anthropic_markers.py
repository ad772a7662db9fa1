"""Anthropic cache markers, checked end to end with the Anthropic cache model.

The adapter must place markers so that every step of a long tool loop reads
what the step before wrote (the read looks back at most 20 block positions
from each marker), never exceed four markers counting the caller's own, and
keep a caller's one-hour marker valid.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stableprefix import AnthropicAdapter, PromptConfig, PromptManager
from stableprefix.sim import AnthropicCache

STATIC = "You are an operations agent for a parcel network. " * 60  # ~600 tokens
TOOL = {"name": "lookup", "description": "Look up a parcel.",
        "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}}}


def _output(n: int) -> str:
    return json.dumps({"parcel": n, "events": [f"scan {i} at hub {n % 7}" for i in range(30)]})


@pytest.mark.parametrize("parallel", [1, 4])
def test_every_step_of_a_long_tool_loop_reads_the_previous_step(parallel: int) -> None:
    adapter = AnthropicAdapter(model="claude-sonnet-5-5")
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC, tools=[TOOL],
                                    transition_mode="agent_cycle"))
    cache = AnthropicCache(model="claude-sonnet-5-5")
    pm.append({"role": "user", "content": "Trace every parcel of order 77."})
    cached_before = 0  # what the previous request read or wrote
    for step in range(40):  # 40 steps: far more than 20 block positions
        request = pm.build_request("Now: 09:30")
        flat = adapter.flatten(request)
        assert flat.marker_count <= 4
        usage = cache.process(flat, now=float(step * 5))
        # everything the previous request cached is read back, so only the
        # new step is written (the first request is below the 1,024 minimum)
        assert usage.cache_read_tokens >= cached_before, (step, usage)
        cached_before = usage.cache_read_tokens + usage.cache_write_tokens
        if step > 8:  # each step adds up to ~1,150 new tokens, a shrinking share
            assert usage.cache_read_tokens > 0.8 * usage.input_tokens, (step, usage)
        ids = [f"s{step}_{k}" for k in range(parallel)]
        pm.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": i, "name": "lookup", "input": {"id": i}} for i in ids]})
        pm.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": i, "content": _output(step)} for i in ids]})


def _own_marker(text: str, ttl: str | None = None) -> dict[str, Any]:
    cc = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return {"role": "user", "content": [{"type": "text", "text": text, "cache_control": cc}]}


def test_callers_markers_count_towards_four_and_are_kept() -> None:
    adapter = AnthropicAdapter()
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC))
    for n in range(4):
        pm.append(_own_marker(f"document {n} " + "x " * 50))
        pm.append({"role": "assistant", "content": f"noted {n}"})
    pm.append({"role": "user", "content": "Compare them."})
    request = pm.build_request("Now: 09:30")
    flat = adapter.flatten(request)
    assert flat.marker_count == 4  # the caller's four; none of ours fits
    assert "cache_control" not in request["system"][0]
    AnthropicCache(model="claude-sonnet-5-5").process(flat, now=0.0)  # a valid request


def test_a_callers_one_hour_marker_stays_first() -> None:
    adapter = AnthropicAdapter(static_ttl="1h")
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC))
    pm.append(_own_marker("policy " * 300, ttl="1h"))
    pm.append({"role": "assistant", "content": "noted"})
    pm.append({"role": "user", "content": "Summarise the policy."})
    request = pm.build_request()
    ttls = [b.cache_ttl for b in adapter.flatten(request).blocks if b.cache_ttl]
    assert ttls[:2] == ["1h", "1h"] and "1h" not in ttls[2:]
    assert request["messages"][0]["content"][0]["cache_control"] == {
        "type": "ephemeral", "ttl": "1h"}
    AnthropicCache(model="claude-sonnet-5-5").process(adapter.flatten(request), now=0.0)
