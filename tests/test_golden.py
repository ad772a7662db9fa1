"""Golden request tables: state + config -> the exact request JSON, per provider.

Regenerate with ``STABLEPREFIX_UPDATE_GOLDEN=1 uv run pytest tests/test_golden.py``
and review every changed file by eye against the provider's documentation.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from helpers import FORMATS, Fmt
from stableprefix import (
    AnthropicAdapter,
    OpenAIAdapter,
    OpenAIResponsesAdapter,
    PromptConfig,
    new_state,
)
from stableprefix import functional as F

GOLDEN = pathlib.Path(__file__).parent / "golden"
UPDATE = os.environ.get("STABLEPREFIX_UPDATE_GOLDEN") == "1"
STATIC = "You are a support agent for Acme. Answer briefly and cite order numbers."


def chat(fmt: Fmt, cfg: PromptConfig) -> Any:
    s = new_state()
    for text, reply in [("Where is order 1?", "Shipped Monday."), ("And order 2?", "Packed.")]:
        s = F.append_messages(s, [fmt.user(text), fmt.assistant(reply)], cfg)
    s = F.append_message(s, fmt.user("Can you expedite 2?"), cfg)
    return F.build_request(s, cfg, "Today is 2026-11-22 09:30 UTC.")


def tool_loop(fmt: Fmt, cfg: PromptConfig) -> Any:
    s = F.append_messages(new_state(), [fmt.user("Status of order 7?"), fmt.call("c1"),
                                        *fmt.results("c1"), fmt.assistant("It left the depot.")],
                          cfg)
    s = F.append_messages(s, [fmt.user("And order 8 and 9?"), fmt.call("c2", "c3"),
                              *fmt.results("c2", "c3")], cfg)
    return F.build_request(s, cfg, "User tier: gold.")


def append_context(fmt: Fmt, cfg: PromptConfig) -> Any:
    s = F.append_message(new_state(), fmt.user("Hi"), cfg)
    s, _ = F.build_turn(s, cfg, "Clock: 09:30")
    s = F.append_messages(s, [fmt.assistant("Hello!"), fmt.user("Time?")], cfg)
    s, _ = F.build_turn(s, cfg, "Clock: 09:30")
    s = F.append_messages(s, [fmt.assistant("09:30."), fmt.user("Now?")], cfg)
    return F.build_turn(s, cfg, "Clock: 09:31")[1]


def bare(fmt: Fmt, cfg: PromptConfig) -> Any:
    return F.build_request(F.append_message(new_state(), fmt.user("Hi"), cfg), cfg)


def summary(fmt: Fmt, cfg: PromptConfig) -> Any:
    s = F.append_messages(new_state(), [fmt.user("Where is order 1?"),
                                        fmt.assistant("Shipped Monday.")], cfg)
    return F.build_summary_request(s, cfg, instruction="Summarise the conversation.")


def keyed(fmt: Fmt, cfg: PromptConfig) -> Any:
    s = F.append_message(new_state(key="customer-77/chat-3"), fmt.user("Hi"), cfg)
    return F.build_request(s, cfg)


def caller_marker(fmt: Fmt, cfg: PromptConfig) -> Any:
    own = {"role": "user", "content": [{"type": "text", "text": "Policy document: " + "x " * 50,
                                        "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}
    s = F.append_messages(new_state(), [own, fmt.assistant("Noted."), fmt.user("Summarise it")],
                          cfg)
    return F.build_request(s, cfg, "Clock: 09:30")


def caller_nested_markers(fmt: Fmt, cfg: PromptConfig) -> Any:
    """A caller's 5m marker on a tool and one nested in a tool result's content."""
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": [
        {"type": "text", "text": "order 7: in transit", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "eta: Friday"}]}]}
    s = F.append_messages(new_state(), [fmt.user("Status of order 7?"), fmt.call("c1"), result],
                          cfg)
    return F.build_request(s, cfg, "User tier: gold.")


def diagnostics(fmt: Fmt, cfg: PromptConfig) -> Any:
    """The second turn, comparing with the first turn's response (provider diagnostics)."""
    s = F.append_messages(new_state(), [fmt.user("Where is order 1?"),
                                        fmt.assistant("Shipped Monday.")], cfg)
    s = F.append_message(s, fmt.user("And order 2?"), cfg)
    return F.build_request(s, cfg, "Today is 2026-11-22 09:30 UTC.",
                           previous_response_id="msg_01XFDUDYJgAACzvnptvVoYEL")


OA, AN = FORMATS
Case = tuple[str, Fmt, dict[str, Any], Callable[[Fmt, PromptConfig], Any]]
CASES: list[Case] = [
    ("chat_tail", OA, {}, chat),
    ("chat_before_recent", OA, {"dynamic_position": "before_recent",
                                "transition_mode": "manual"}, chat),
    ("tool_loop", OA, {"transition_mode": "agent_cycle", "tools": [OA.tool()]}, tool_loop),
    ("append_context", OA, {"transition_mode": "agent_cycle", "dynamic_position": "append"},
     append_context),
    ("bare", OA, {"static_system_prompt": ""}, bare),
    ("summary", OA, {"tools": [OA.tool()]}, summary),
    ("keyed_retention", OA, {"adapter": OpenAIAdapter(
        prompt_cache_retention="24h", context_role="developer", cache_key_buckets=16)}, keyed),
    ("chat_tail", AN, {}, chat),
    ("chat_before_recent", AN, {"dynamic_position": "before_recent",
                                "transition_mode": "manual"}, chat),
    ("tool_loop", AN, {"transition_mode": "agent_cycle", "tools": [AN.tool()]}, tool_loop),
    ("append_context", AN, {"transition_mode": "agent_cycle", "dynamic_position": "append"},
     append_context),
    ("bare", AN, {"static_system_prompt": ""}, bare),
    ("summary", AN, {"tools": [AN.tool()]}, summary),
    ("static_1h", AN, {"adapter": AnthropicAdapter(static_ttl="1h"),
                       "transition_mode": "agent_cycle", "tools": [AN.tool()]}, tool_loop),
    ("caller_1h_marker", AN, {}, caller_marker),
    ("caller_nested_markers", AN, {
        "adapter": AnthropicAdapter(static_ttl="1h"), "transition_mode": "agent_cycle",
        "tools": [{**AN.tool(), "cache_control": {"type": "ephemeral"}}]},
     caller_nested_markers),
    ("below_model_minimum", AN, {"adapter": AnthropicAdapter(model="claude-sonnet-4-5")}, chat),
    ("provider_diagnostics", AN, {"adapter": AnthropicAdapter(provider_diagnostics=True),
                                  "transition_mode": "agent_cycle"}, diagnostics),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[1].name}-{c[0]}" for c in CASES])
def test_request_matches_golden(case: Case) -> None:
    name, fmt, kwargs, build = case
    kwargs = {"static_system_prompt": STATIC, "adapter": fmt.adapter, **kwargs}
    request = build(fmt, PromptConfig(**kwargs))
    path = GOLDEN / fmt.name / f"{name}.json"
    text = json.dumps(request, indent=2, ensure_ascii=False) + "\n"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"wrote new golden file {path}; review it and commit it")
    assert text == path.read_text(), f"request differs from {path}"


def test_responses_provider_diagnostics_matches_golden() -> None:
    """GPT-5.6+ Responses: breakpoints plus ``prompt_cache_options.comparison_response_id``."""
    adapter = OpenAIResponsesAdapter(model="gpt-5.6-sol", prompt_cache_mode="explicit",
                                     provider_diagnostics=True)
    cfg = PromptConfig(static_system_prompt=STATIC * 100, adapter=adapter,
                       transition_mode="agent_cycle")
    s = F.append_messages(new_state(), [{"role": "user", "content": "Where is order 1?"},
                                        {"role": "assistant", "content": "Shipped Monday."}], cfg)
    s = F.append_message(s, {"role": "user", "content": "And order 2?"}, cfg)
    request = F.build_request(s, cfg, "Today is 2026-11-22 09:30 UTC.",
                              previous_response_id="resp_68af4030592c81938ec0a5fbab4a3e9f")
    path = GOLDEN / "responses" / "provider_diagnostics.json"
    text = json.dumps(request, indent=2, ensure_ascii=False) + "\n"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"wrote new golden file {path}; review it and commit it")
    assert text == path.read_text(), f"request differs from {path}"
