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
from hypothesis import given, settings
from hypothesis import strategies as st

from stableprefix import AnthropicAdapter, CacheMarkerError, PromptConfig, PromptManager
from stableprefix import functional as F
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


# ------------------------------------------------ every caller marker counts, wherever it sits

def _cc(ttl: str | None = None) -> dict[str, str]:
    return {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}


def _tool(ttl: str | None = None) -> dict[str, Any]:
    return {**TOOL, **({"cache_control": _cc(ttl)} if ttl else {})}


def _call(cid: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [
        {"type": "tool_use", "id": cid, "name": "lookup", "input": {"id": cid}}]}


def _nested_result(cid: str, ttl: str | None) -> dict[str, Any]:
    """A tool result whose first nested block carries the caller's marker."""
    inner = [{"type": "text", "text": _output(1), **({"cache_control": _cc(ttl)} if ttl else {})},
             {"type": "text", "text": "end of report"}]
    return {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": cid, "content": inner}]}


def _markers(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, ttl) of every cache_control in the request, in prefix order."""
    from stableprefix.adapters._anthropic_markers import sites

    return [(s.path, s.ttl) for s in sites(request.get("tools", []), request.get("system", []),
                                          request["messages"]) if s.ttl]


def _manager(adapter: AnthropicAdapter, tools: list[Any]) -> PromptManager:
    return PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC, tools=tools,
                                      transition_mode="agent_cycle"))


def test_markers_nested_in_tool_results_count_towards_four() -> None:
    adapter = AnthropicAdapter()
    pm = _manager(adapter, [_tool("1h")])
    pm.append({"role": "user", "content": "Trace parcels 1 and 2."})
    for cid in ("c1", "c2", "c3"):
        pm.append(_call(cid))
        pm.append(_nested_result(cid, "5m"))
    request = pm.build_request("Now: 09:30")
    # the caller's four (tool + three nested), none of ours
    assert [p for p, _ in _markers(request)] == [
        "$.tools[0]", *(f"$.messages[{i}].content[0].content[0]" for i in (2, 4, 6))]
    assert "cache_control" not in request["system"][0]
    flat = adapter.flatten(request)
    assert flat.marker_count == 4
    AnthropicCache(model="claude-sonnet-5-5").process(flat, now=0.0)


def test_a_nested_marker_leaves_room_for_ours_and_is_simulated() -> None:
    adapter = AnthropicAdapter(min_cache_tokens=1)
    pm = _manager(adapter, [TOOL])
    pm.append({"role": "user", "content": "Trace parcel 1."})
    pm.append(_call("c1"))
    pm.append(_nested_result("c1", None))
    plain = adapter.flatten(pm.build_request())
    pm2 = _manager(adapter, [TOOL])
    pm2.append({"role": "user", "content": "Trace parcel 1."})
    pm2.append(_call("c1"))
    pm2.append(_nested_result("c1", "5m"))
    request = pm2.build_request()
    flat = adapter.flatten(request)
    # ours: the end of the turn and the system prompt; the caller's nested one
    assert flat.marker_count == plain.marker_count + 1 == 3
    assert flat.total_tokens == plain.total_tokens  # splitting keeps every token
    cache = AnthropicCache(min_tokens=1)
    cache.process(flat, now=0.0)
    again = cache.process(flat, now=1.0)
    assert again.cache_read_tokens == flat.total_tokens - flat.blocks[-1].tokens


def test_our_one_hour_marker_is_downgraded_after_a_callers_five_minute_one() -> None:
    adapter = AnthropicAdapter(static_ttl="1h")
    pm = _manager(adapter, [_tool("5m")])
    pm.append({"role": "user", "content": "Trace parcel 1."})
    request = pm.build_request()
    assert request["tools"][0]["cache_control"] == _cc("5m")  # the caller's, untouched
    assert request["system"][0]["cache_control"] == _cc()  # ours, now five minutes
    AnthropicCache(model="claude-sonnet-5-5").process(adapter.flatten(request), now=0.0)


def test_our_five_minute_markers_never_precede_a_callers_one_hour_one() -> None:
    adapter = AnthropicAdapter()
    pm = _manager(adapter, [TOOL])
    pm.append({"role": "user", "content": "Trace parcel 1."})
    pm.append(_call("c1"))
    pm.append(_nested_result("c1", "1h"))
    request = pm.build_request("Now: 09:30")
    marks = _markers(request)
    # the system marker (5m, before the caller's 1h) is dropped; the turn's end stays
    assert marks == [("$.messages[2].content[0].content[0]", "1h"),
                     ("$.messages[2].content[0]", "5m")]
    AnthropicCache(model="claude-sonnet-5-5").process(adapter.flatten(request), now=0.0)


@pytest.mark.parametrize(("tool_ttl", "nested_ttls", "rule", "path"), [
    ("5m", ("5m", "5m", "5m", "5m"), "max_markers", "$.messages[8].content[0].content[0]"),
    (None, ("1h", "1h", "1h", "1h", "1h"), "max_markers", "$.messages[10].content[0].content[0]"),
    ("5m", ("1h",), "ttl_order", "$.messages[2].content[0].content[0]"),
    (None, ("5m", "1h"), "ttl_order", "$.messages[4].content[0].content[0]"),
])
def test_callers_markers_that_break_a_rule_get_a_clear_error(
    tool_ttl: str | None, nested_ttls: tuple[str, ...], rule: str, path: str
) -> None:
    pm = _manager(AnthropicAdapter(), [_tool(tool_ttl)])
    pm.append({"role": "user", "content": "Trace the parcels."})
    for n, ttl in enumerate(nested_ttls):
        pm.append(_call(f"c{n}"))
        pm.append(_nested_result(f"c{n}", ttl))
    before = pm.dumps()
    with pytest.raises(CacheMarkerError) as info:
        pm.build_request()
    assert info.value.rule == rule and info.value.path == path
    assert path in str(info.value)
    assert ("at most 4" in str(info.value)) if rule == "max_markers" else (
        "longer TTLs first" in str(info.value))
    assert pm.dumps() == before  # nothing changed; the manager still works
    pm.append({"role": "assistant", "content": "Done."})
    with pytest.raises(CacheMarkerError):
        F.build_request(pm.state, pm.config)


@settings(max_examples=60, deadline=None)
@given(
    tool_ttl=st.sampled_from([None, "5m", "1h"]),
    nested=st.lists(st.sampled_from([None, "5m", "1h"]), min_size=1, max_size=5),
    static_ttl=st.sampled_from(["5m", "1h"]),
    cache_ttl=st.sampled_from(["5m", "1h"]),
    context=st.sampled_from([None, "Now: 09:30"]),
)
def test_requests_always_keep_both_rules(
    tool_ttl: str | None, nested: list[str | None], static_ttl: str, cache_ttl: str,
    context: str | None,
) -> None:
    if static_ttl == "5m" and cache_ttl == "1h":
        static_ttl = "1h"
    adapter = AnthropicAdapter(model="claude-sonnet-5-5", static_ttl=static_ttl,
                               cache_ttl=cache_ttl)
    pm = _manager(adapter, [_tool(tool_ttl)])
    pm.append({"role": "user", "content": "Trace the parcels."})
    for n, ttl in enumerate(nested):
        pm.append(_call(f"c{n}"))
        pm.append(_nested_result(f"c{n}", ttl))
    callers = [t for t in (tool_ttl, *nested) if t]
    callers_ok = len(callers) <= 4 and "".join(t[0] for t in callers).find("51") < 0
    try:
        request = pm.build_request(context)
    except CacheMarkerError:
        assert not callers_ok
        return
    assert callers_ok
    marks = _markers(request)
    ttls = [t for _, t in marks]
    assert len(marks) <= 4 and ttls == sorted(ttls)  # "1h" sorts before "5m"
    # the caller's markers are all still there, unchanged
    kept = [t for p, t in marks if p.startswith("$.tools") or p.endswith(".content[0]"
                                                                        ".content[0]")]
    assert kept == callers
    AnthropicCache(model="claude-sonnet-5-5").process(adapter.flatten(request), now=0.0)
