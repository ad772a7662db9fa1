"""Adapters put the request settings a provider's cache depends on into the flat request.

Expected outcomes come from the providers' documentation:
- Anthropic prompt caching guide, "What invalidates the cache": "Tool choice
  ✓ ✓ ✘" (tool and system entries stay valid, message entries do not);
  thinking parameters and effort invalidate message blocks.
- OpenAI prompt caching guide (GPT-5.6+): "Settings that affect the cached
  prefix include tools, parallel_tool_calls, text.format, reasoning.effort
  and text.verbosity", rendered ahead of the conversation: a change misses
  the whole prompt.
"""

from __future__ import annotations

from typing import Any

from stableprefix import (
    AnthropicAdapter,
    OpenAIAdapter,
    OpenAIResponsesAdapter,
    PromptConfig,
    PromptManager,
)
from stableprefix.sim import AnthropicCache, cache_for_model

TOOLS = [
    {
        "name": f"tool_{i}",
        "description": "Looks things up in the archive. " * 40,
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    for i in range(2)
]
STATIC = "You answer questions about the archive precisely. " * 120


def anthropic_request(**settings: Any) -> dict[str, Any]:
    manager = PromptManager(
        PromptConfig(
            adapter=AnthropicAdapter(model="claude-sonnet-5-5"),
            static_system_prompt=STATIC,
            tools=TOOLS,
        )
    )
    manager.append({"role": "user", "content": "Find the 1987 annual report. " * 60})
    return {**manager.build_request(), **settings}


def test_a_changed_tool_choice_misses_the_messages_but_keeps_tools_and_system() -> None:
    adapter = AnthropicAdapter(model="claude-sonnet-5-5")
    auto = adapter.flatten(anthropic_request(tool_choice={"type": "auto"}))
    anyt = adapter.flatten(anthropic_request(tool_choice={"type": "any"}))
    assert [s for s, _f in auto.settings] == ["messages"]
    assert auto.blocks == anyt.blocks and auto.settings != anyt.settings
    static = sum(b.tokens for b in auto.blocks if b.role in ("tools", "system"))
    assert 0 < static < auto.total_tokens

    cache = AnthropicCache("claude-sonnet-5-5")
    first = cache.process(auto, now=0)
    assert first.cache_read_tokens == 0
    # the same tool_choice again: everything written is read back
    again = cache.process(auto, now=1)
    assert again.cache_read_tokens == first.cache_write_tokens > static
    # only tool_choice changed: tools and system are read, the messages are written again
    changed = cache.process(anyt, now=2)
    assert changed.cache_read_tokens == static
    assert changed.cache_write_tokens == auto.total_tokens - static - changed.uncached_input_tokens


def test_thinking_and_effort_count_as_message_settings() -> None:
    adapter = AnthropicAdapter(model="claude-sonnet-5-5")
    plain = adapter.flatten(anthropic_request())
    thinking = adapter.flatten(
        anthropic_request(thinking={"type": "enabled", "budget_tokens": 2048})
    )
    effort = adapter.flatten(anthropic_request(output_config={"effort": "low"}))
    assert plain.settings == ()
    assert [s for s, _f in thinking.settings] == ["messages"]
    assert [s for s, _f in effort.settings] == ["messages"]
    assert thinking.settings != effort.settings


def test_top_level_cache_control_fills_auto_cache_ttl() -> None:
    adapter = AnthropicAdapter(model="claude-sonnet-5-5")
    request = {"cache_control": {"type": "ephemeral", "ttl": "1h"},
               "messages": [{"role": "user", "content": "Hi"}]}  # fmt: skip
    assert adapter.flatten(request).auto_cache_ttl == "1h"
    assert adapter.flatten({"messages": request["messages"]}).auto_cache_ttl is None


def openai_request(adapter: Any, **settings: Any) -> dict[str, Any]:
    manager = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC))
    manager.append({"role": "user", "content": "Find the 1987 annual report. " * 60})
    return {**manager.build_request(), **settings}


def test_a_changed_reasoning_effort_misses_the_whole_prompt_on_gpt_5_6() -> None:
    adapter = OpenAIAdapter(model="gpt-5.6-terra")
    low = adapter.flatten(openai_request(adapter, reasoning_effort="low"))
    high = adapter.flatten(openai_request(adapter, reasoning_effort="high"))
    assert [s for s, _f in low.settings] == ["tools"]
    cache = cache_for_model("gpt-5.6-terra")
    cache.process(low, now=0)
    assert cache.process(low, now=1).cache_read_tokens > 0  # same settings: a hit
    assert cache.process(high, now=2).cache_read_tokens == 0


def test_responses_text_format_is_a_setting_and_local_engines_have_none() -> None:
    adapter = OpenAIResponsesAdapter(model="gpt-5.6-terra")
    plain = openai_request(adapter)
    fmt = {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}}}
    a = adapter.flatten({**plain, "text": fmt})
    b = adapter.flatten({**plain, "text": {**fmt, "verbosity": "low"}})
    assert adapter.flatten(plain).settings == ()
    assert a.settings and a.settings != b.settings
    local = OpenAIAdapter(engine="llama.cpp")
    request = openai_request(local, response_format={"type": "json_object"})
    assert local.flatten(request).settings == ()
