"""lint(): volatile values, tool key order, markers, breakpoints, minimums; strict mode."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from diag_scenarios import BASE, render
from stableprefix import AnthropicAdapter, LintError, OpenAIResponsesAdapter, PromptConfig
from stableprefix._json import canonical
from stableprefix.diagnostics import lint


class Words:
    def count_text(self, text: str) -> int:
        return len(text.split())


def test_clean_library_config_has_no_findings():
    for adapter in (AnthropicAdapter(), OpenAIResponsesAdapter()):
        conf = PromptConfig(static_system_prompt="Be exact. " * 800, adapter=adapter)
        assert (
            lint(conf, model="claude-sonnet-4-5" if adapter.name == "anthropic" else "gpt-5") == []
        )


def test_volatile_value_in_static_prompt_is_priced_per_1000_turns():
    """Sonnet 4.5: 5-minute writes $3.75, reads $0.30 per MTok (Anthropic pricing)."""
    conf = PromptConfig(
        static_system_prompt="Now: 2026-12-01T10:00:00Z. " + "rule " * 1500,
        adapter=AnthropicAdapter(token_counter=Words()),
    )
    (f,) = lint(conf, model="claude-sonnet-4-5")
    assert f.code == "volatile_value" and f.path == "PromptConfig.static_system_prompt"
    assert "timestamp '2026-12-01T10:00:00Z'" in f.detail
    # Whole prompt re-prefilled: 1502 system words + the placeholder user message.
    assert f.tokens_per_turn == 1502 + 3
    assert f.usd_per_1000_turns == pytest.approx(1505 * (3.75 - 0.30) / 1e6 * 1000)
    assert "per 1,000 turns" in str(f)


def test_volatile_value_in_a_tool_description():
    conf = PromptConfig(
        static_system_prompt="Be exact. " * 800,
        tools=[
            {
                "type": "function",
                "function": {"name": "f", "description": "Data as of 2026-12-01", "parameters": {}},
            }
        ],
    )
    (f,) = lint(conf, model="gpt-5")
    assert (f.code, f.path) == ("volatile_value", "PromptConfig.tools[0]")


def test_request_findings_in_each_format():
    req = render(BASE, "anthropic")
    for block in req["system"]:
        block.pop("cache_control", None)
    for m in req["messages"]:
        for b in m["content"]:
            b.pop("cache_control", None)
    req["tools"][0] = {
        "input_schema": req["tools"][0]["input_schema"],
        "name": "get_weather",
        "description": "x",
    }
    req["tools"][1:] = [json.loads(canonical(t)) for t in req["tools"][1:]]
    found = {f.code: f for f in lint(req)}
    assert set(found) == {"marker_missing", "tool_key_order"}
    assert found["tool_key_order"].path == "$.tools[0]"
    assert found["marker_missing"].path == "$"


def test_gpt56_needs_a_breakpoint_after_the_static_part():
    req = {**render(BASE, "openai_responses"), "model": "gpt-5.6-terra"}
    req["tools"] = [json.loads(canonical(t)) for t in req["tools"]]
    (f,) = lint(req)
    assert (f.code, f.path) == ("no_breakpoint", "$.instructions")
    marked = render(replace(BASE, breakpoint=True), "openai_responses")
    marked["tools"] = req["tools"]
    assert lint({**marked, "model": "gpt-5.6-terra"}) == []


def test_below_minimum():
    req = {"model": "gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    (f,) = lint(req)
    assert f.code == "below_minimum" and "2048" in f.detail


def test_strict_raises_with_the_findings():
    conf = PromptConfig(static_system_prompt="Request id: req_ab12cd34ef. " + "Be exact. " * 800)
    with pytest.raises(LintError) as info:
        lint(conf, model="gpt-5", strict=True)
    assert [f.code for f in info.value.findings] == ["volatile_value"]
    assert "req_ab12cd34ef" in str(info.value)


def test_bad_targets():
    with pytest.raises(TypeError, match="PromptConfig or a request dict"):
        lint("system prompt")  # type: ignore[arg-type]
