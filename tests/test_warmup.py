"""Warm-up requests: the smallest request that writes a fan-out's shared prefix.

Checked with the cache models: after the warm-up, every sub-request of the
fan-out reads the whole shared prefix (tools, static prompt, committed
history) and writes only its own part.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import ALL_FORMATS, Fmt
from stableprefix import (
    AnthropicAdapter,
    OpenAIAdapter,
    OpenAIResponsesAdapter,
    PendingToolCallError,
    PromptConfig,
    PromptManager,
    new_state,
)
from stableprefix import functional as F
from stableprefix.sim import AnthropicCache

STATIC = "You are a research agent. Cite every source you use. " * 120  # ~1,500 tokens
CONTEXT = "Quarterly report, section {n}: revenue rose in every region. " * 40


def _shared_state(fmt: Fmt, cfg: PromptConfig) -> Any:
    """A conversation whose committed history holds the large shared context."""
    s = new_state()
    for n in range(3):
        s = F.append_messages(s, [fmt.user(CONTEXT.format(n=n)), fmt.assistant(f"Read {n}.")], cfg)
    return s


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=[f.name for f in ALL_FORMATS])
def test_the_warmup_is_the_shared_prefix_plus_one_instruction(fmt: Fmt) -> None:
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter, tools=[fmt.tool()])
    s = _shared_state(fmt, cfg)
    warm = F.build_warmup_request(s, cfg)
    full = F.build_request(F.append_message(s, fmt.user("Sub-task 1"), cfg), cfg)
    key = next(k for k in ("messages", "input", "contents") if k in full)
    # the same prefix as a real sub-request, then only the instruction
    assert len(warm[key]) == len(full[key])
    assert "Reply with OK." in json.dumps(warm[key][-1])
    assert warm.get("tools") == full.get("tools")
    assert PromptManager(cfg, s).build_warmup_request() == warm


def test_anthropic_marks_the_shared_prefix_and_not_the_instruction() -> None:
    fmt = Fmt(AnthropicAdapter(model="claude-sonnet-5-5"))
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter, tools=[fmt.tool()])
    s = _shared_state(fmt, cfg)
    warm = F.build_warmup_request(s, cfg)
    assert "cache_control" in warm["system"][0]
    assert "cache_control" in json.dumps(warm["messages"][-2])  # end of the history
    assert "cache_control" not in json.dumps(warm["messages"][-1])
    cache = AnthropicCache(model="claude-sonnet-5-5")
    written = cache.process(fmt.adapter.flatten(warm), now=0.0).cache_write_tokens
    for n in range(4):  # every sub-request reads all the warm-up wrote
        sub = F.build_request(F.append_message(s, fmt.user(f"Sub-task {n}"), cfg), cfg)
        usage = cache.process(fmt.adapter.flatten(sub), now=1.0 + n)
        assert usage.cache_read_tokens == written


@pytest.mark.parametrize("cls", [OpenAIAdapter, OpenAIResponsesAdapter])
def test_gpt_56_warmups_write_only_the_shared_prefix(cls: Any) -> None:
    fmt = Fmt(cls(model="gpt-5.6-terra"))
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter, tools=[fmt.tool()],
                       transition_mode="agent_cycle")
    s = _shared_state(fmt, cfg)
    warm = F.build_warmup_request(s, cfg)
    assert warm["prompt_cache_options"] == {"mode": "explicit"}  # no implicit write
    items = warm.get("messages", warm.get("input"))
    marked = [i for i, m in enumerate(items) if "prompt_cache_breakpoint" in json.dumps(m)]
    assert marked == [0, len(items) - 3]  # the system prompt and the history's last user msg
    sub = F.build_request(F.append_message(s, fmt.user("Sub-task 1"), cfg), cfg)
    sub_items = sub.get("messages", sub.get("input"))
    assert "prompt_cache_options" not in sub
    assert [i for i, m in enumerate(sub_items)
            if "prompt_cache_breakpoint" in json.dumps(m)] == marked


def test_no_warmup_while_tool_calls_await_results() -> None:
    fmt = Fmt(AnthropicAdapter())
    cfg = PromptConfig(adapter=fmt.adapter, tools=[fmt.tool()])
    s = F.append_messages(new_state(), [fmt.user("Go"), fmt.call("c1")], cfg)
    with pytest.raises(PendingToolCallError):
        F.build_warmup_request(s, cfg)


def test_warming_saves_under_every_providers_rules() -> None:
    """benchmarks/warming.py: a warmed fan-out costs less in every cell."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "benchmarks" / "warming.py"
    spec = importlib.util.spec_from_file_location("warming", path)
    assert spec is not None and spec.loader is not None
    warming = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(warming)
    for cell in warming.CELLS:
        cold, cold_usage = warming._run(cell, 4, 6000, warm=False)
        hot, hot_usage = warming._run(cell, 4, 6000, warm=True)
        assert cold_usage.cache_read_tokens == 0  # parallel and cold: nobody reads
        assert hot < cold and hot_usage.cache_read_tokens > 0, cell[0]
