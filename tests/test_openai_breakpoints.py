"""GPT-5.6+ prompt cache breakpoints in both OpenAI formats.

Golden tables (state + config -> the exact request) for Chat Completions and
Responses on a GPT-5.6 model, the legacy path unchanged for earlier models,
bad input, the limits (never more writes than allowed, never on assistant
content, the caller's breakpoints kept and counted) and the real ``openai``
SDK sending our requests to a loopback server.

Regenerate the golden files with ``STABLEPREFIX_UPDATE_GOLDEN=1 uv run pytest
tests/test_openai_breakpoints.py`` and review each change against the
prompt caching guide (https://developers.openai.com/api/docs/guides/prompt-caching).
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeserver import FakeServer, FakeUsage
from helpers import Fmt
from stableprefix import (
    InvalidMessageError,
    OpenAIAdapter,
    OpenAIResponsesAdapter,
    PromptConfig,
    PromptManager,
    new_state,
)
from stableprefix import functional as F
from stableprefix.adapters import ProviderAdapter

GOLDEN = pathlib.Path(__file__).parent / "golden" / "openai_breakpoints"
UPDATE = os.environ.get("STABLEPREFIX_UPDATE_GOLDEN") == "1"
# About 1,200 tokens: above GPT-5.6's strict 1,024-token minimum.
STATIC = "You are a support agent for Acme. Answer briefly and cite order numbers. " * 80
BP = {"mode": "explicit"}
MODEL = "gpt-5.6-terra"


def _chat_fmt(**kw: Any) -> Fmt:
    return Fmt(OpenAIAdapter(model=MODEL, **kw))


def _responses_fmt(**kw: Any) -> Fmt:
    return Fmt(OpenAIResponsesAdapter(model=MODEL, **kw))


def chat(fmt: Fmt, cfg: PromptConfig) -> Any:
    s = new_state()
    for text, reply in [("Where is order 1?", "Shipped Monday."), ("And order 2?", "Packed.")]:
        s = F.append_messages(s, [fmt.user(text), fmt.assistant(reply)], cfg)
    s = F.append_message(s, fmt.user("Can you expedite 2?"), cfg)
    return F.build_request(s, cfg, "Today is 2026-11-22 09:30 UTC.")


def tool_loop(fmt: Fmt, cfg: PromptConfig) -> Any:
    s = F.append_messages(new_state(), [fmt.user("Status of order 7?"), *fmt.calls("c1"),
                                        *fmt.results("c1"), fmt.assistant("It left the depot.")],
                          cfg)
    s = F.append_messages(s, [fmt.user("And order 8 and 9?"), *fmt.calls("c2", "c3"),
                              *fmt.results("c2", "c3")], cfg)
    return F.build_request(s, cfg, "User tier: gold.")


def caller_breakpoints(fmt: Fmt, cfg: PromptConfig) -> Any:
    part = "input_text" if fmt.name == "openai_responses" else "text"
    own = [{"role": "user", "content": [{"type": part, "text": f"Document {n}: " + "x " * 40,
                                         "prompt_cache_breakpoint": BP}]} for n in range(2)]
    s = F.append_messages(new_state(), [own[0], fmt.assistant("Noted."), own[1],
                                        fmt.assistant("Noted."), fmt.user("Compare them.")], cfg)
    return F.build_request(s, cfg, "Clock: 09:30")


Case = tuple[str, Callable[..., Fmt], dict[str, Any], dict[str, Any], Callable[..., Any]]
CASES: list[Case] = []
for _name, _fmt in (("chat", _chat_fmt), ("responses", _responses_fmt)):
    CASES += [
        (f"{_name}_chat_tail", _fmt, {}, {}, chat),
        (f"{_name}_chat_before_recent", _fmt, {},
         {"dynamic_position": "before_recent", "transition_mode": "manual"}, chat),
        (f"{_name}_tool_loop", _fmt, {}, {"transition_mode": "agent_cycle"}, tool_loop),
        (f"{_name}_explicit_mode", _fmt, {"prompt_cache_mode": "explicit",
                                           "prompt_cache_ttl": "30m"},
         {"transition_mode": "agent_cycle"}, tool_loop),
        (f"{_name}_context_as_user", _fmt, {"context_role": "user"}, {}, chat),
        (f"{_name}_caller_breakpoints", _fmt, {}, {}, caller_breakpoints),
    ]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_request_matches_golden(case: Case) -> None:
    name, make, adapter_kw, config_kw, build = case
    fmt = make(**adapter_kw)
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter,
                       tools=[fmt.tool()], **config_kw)
    request = build(fmt, cfg)
    path = GOLDEN / f"{name}.json"
    text = json.dumps(request, indent=2, ensure_ascii=False) + "\n"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"wrote new golden file {path}; review it and commit it")
    assert text == path.read_text(), f"request differs from {path}"


# ------------------------------------------------------------------ where breakpoints go

def _marks(request: dict[str, Any]) -> list[tuple[int, str]]:
    """(item index, role or type) of every item carrying a breakpoint."""
    items = request.get("messages", request.get("input", []))
    out = []
    for i, item in enumerate(items):
        value = item.get("content", item.get("output"))
        if isinstance(value, list) and any("prompt_cache_breakpoint" in p for p in value):
            out.append((i, item.get("role", item.get("type"))))
    return out


@pytest.mark.parametrize("make", [_chat_fmt, _responses_fmt])
def test_the_static_part_ends_with_a_breakpoint_and_the_implicit_one_is_not_repeated(
    make: Callable[..., Fmt],
) -> None:
    fmt = make()
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter, tools=[fmt.tool()],
                       transition_mode="agent_cycle")
    request = chat(fmt, cfg)
    marks = _marks(request)
    # the system prompt and the end of committed history; the latest user
    # message gets the service's implicit breakpoint, so none of ours
    assert marks == [(0, "system" if fmt.name == "openai" else "developer"), (3, "user")]
    assert "prompt_cache_options" not in request
    # everything committed at once: the end of history is the implicit breakpoint
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter, tools=[fmt.tool()])
    assert _marks(chat(fmt, cfg)) == marks[:1]


@pytest.mark.parametrize("make", [_chat_fmt, _responses_fmt])
def test_earlier_models_keep_the_legacy_request(make: Callable[..., Fmt]) -> None:
    for model in ("gpt-5.5", "gpt-4o-mini", None):
        fmt = Fmt(type(make().adapter)(model=model, prompt_cache_retention="24h"))
        cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter)
        request = chat(fmt, cfg)
        assert _marks(request) == [] and request["prompt_cache_retention"] == "24h"
        plain = Fmt(type(fmt.adapter)(prompt_cache_retention="24h"))
        assert request == chat(plain, PromptConfig(static_system_prompt=STATIC,
                                                   adapter=plain.adapter))


@pytest.mark.parametrize("model", ["gpt-5.6-sol", "openai/gpt-5.6-luna", "gpt-6.1-sol",
                                   "gpt-6", "gpt-7.0-preview-2027-01-01", "GPT-5.6-Terra"])
def test_every_later_family_and_spelling_gets_breakpoints(model: str) -> None:
    assert OpenAIAdapter(model=model).cache_options.breakpoints
    assert OpenAIResponsesAdapter(model=model).cache_options.breakpoints


def test_a_short_static_prompt_gets_no_breakpoint() -> None:
    fmt = _chat_fmt()
    cfg = PromptConfig(static_system_prompt="Be brief.", adapter=fmt.adapter)
    request = chat(fmt, cfg)
    assert _marks(request) == []  # below 1,024 tokens nothing can be cached


@pytest.mark.parametrize("make", [_chat_fmt, _responses_fmt])
def test_caller_breakpoints_count_against_the_writes(make: Callable[..., Fmt]) -> None:
    fmt = make()
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter)
    request = caller_breakpoints(fmt, cfg)
    # two of the caller's + the system prompt = three explicit + one implicit
    assert [i for i, _ in _marks(request)] == [0, 1, 3]
    explicit = make(prompt_cache_mode="explicit")
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=explicit.adapter)
    request = caller_breakpoints(explicit, cfg)
    # explicit mode: four writes, the last one at the end of the turn
    assert [i for i, _ in _marks(request)] == [0, 1, 3, 5]
    assert request["prompt_cache_options"] == {"mode": "explicit"}


@settings(max_examples=40, deadline=None)
@given(
    responses=st.booleans(),
    mode=st.sampled_from([None, "implicit", "explicit"]),
    position=st.sampled_from(["tail", "before_recent"]),
    context_role=st.sampled_from(["system", "developer", "user"]),
    caller=st.lists(st.booleans(), min_size=1, max_size=6),
    steps=st.integers(min_value=0, max_value=3),
)
def test_never_more_writes_than_allowed_and_never_on_assistant_content(
    responses: bool, mode: str | None, position: str, context_role: str, caller: list[bool],
    steps: int,
) -> None:
    make = _responses_fmt if responses else _chat_fmt
    fmt = make(prompt_cache_mode=mode, context_role=context_role)
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter, tools=[fmt.tool()],
                       dynamic_position=position, transition_mode="agent_cycle")
    part = "input_text" if responses else "text"
    pm = PromptManager(cfg)
    for n, marked in enumerate(caller):
        text = f"Question {n}: " + "y " * 30
        pm.append({"role": "user", "content": [
            {"type": part, "text": text, **({"prompt_cache_breakpoint": BP} if marked else {})}]})
        for k in range(steps):
            for m in [*fmt.calls(f"c{n}_{k}"), *fmt.results(f"c{n}_{k}")]:
                pm.append(m)
        if n < len(caller) - 1:
            pm.append(fmt.assistant(f"Answer {n}."))
    request = pm.build_request("Clock: 09:30")
    items = request.get("messages", request.get("input"))
    ours = len(_marks(request)) - sum(caller)
    assert 0 <= ours <= max(0, (4 if mode == "explicit" else 3) - sum(caller))
    for item in items:
        if item.get("role") == "assistant":
            assert "prompt_cache_breakpoint" not in json.dumps(item)
    flat = fmt.adapter.flatten(request)
    assert sum(1 for b in flat.blocks if b.cache_ttl) == len(_marks(request))


def test_flatten_keys_ignore_breakpoints() -> None:
    """A message keeps its cache key whether or not it carries a breakpoint."""
    fmt = _chat_fmt()
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter,
                       transition_mode="agent_cycle")
    s = F.append_messages(new_state(), [fmt.user("Q1"), fmt.assistant("A1")], cfg)
    first = fmt.adapter.flatten(F.build_request(s, cfg))
    s = F.append_messages(s, [fmt.user("Q2"), fmt.assistant("A2"), fmt.user("Q3")], cfg)
    second = fmt.adapter.flatten(F.build_request(s, cfg))
    assert first.blocks[1].cache_ttl is None and second.blocks[3].cache_ttl == "30m"
    assert [b.key for b in first.blocks] == [b.key for b in second.blocks[:3]]


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"model": MODEL, "prompt_cache_ttl": "30m", "prompt_cache_retention": "24h"},
     ValueError, "rejects it together"),
    ({"model": "gpt-5.5", "prompt_cache_mode": "explicit"}, ValueError, "GPT-5.6 or a later"),
    ({"model": MODEL, "prompt_cache_mode": "auto"}, ValueError, "prompt_cache_mode must be"),
    ({"model": MODEL, "prompt_cache_ttl": "1h"}, ValueError, "only value"),
    ({"model": 56}, TypeError, "model must be a string"),
])
@pytest.mark.parametrize("cls", [OpenAIAdapter, OpenAIResponsesAdapter])
def test_bad_options_are_refused(
    cls: type[ProviderAdapter], kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        cls(**kwargs)


BAD_MESSAGES = [
    (_chat_fmt, {"role": "assistant", "content": [
        {"type": "text", "text": "ok", "prompt_cache_breakpoint": BP}]},
     "$.content[0].prompt_cache_breakpoint", "assistant content cannot"),
    (_chat_fmt, {"role": "user", "content": [
        {"type": "text", "text": "ok", "prompt_cache_breakpoint": {"mode": "implicit"}}]},
     "$.content[0].prompt_cache_breakpoint", "must be {'mode': 'explicit'}"),
    (_chat_fmt, {"role": "user", "content": [
        {"type": "text", "text": "ok", "prompt_cache_breakpoint": {"mode": "explicit",
                                                                    "ttl": "5m"}}]},
     "$.content[0].prompt_cache_breakpoint", "'30m' or '12h'"),
    (_responses_fmt, {"role": "assistant", "content": [
        {"type": "output_text", "text": "ok", "prompt_cache_breakpoint": BP}]},
     "$.content[0].prompt_cache_breakpoint", "assistant content cannot"),
    (_responses_fmt, {"type": "function_call_output", "call_id": "c1", "output": [
        {"type": "input_text", "text": "ok", "prompt_cache_breakpoint": "yes"}]},
     "$.output[0].prompt_cache_breakpoint", "must be {'mode': 'explicit'}"),
]


@pytest.mark.parametrize(("make", "message", "path", "words"), BAD_MESSAGES)
def test_bad_breakpoints_in_messages_name_the_path(
    make: Callable[..., Fmt], message: dict[str, Any], path: str, words: str
) -> None:
    fmt = make()
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter, tools=[fmt.tool()])
    pm = PromptManager(cfg)
    pm.append(fmt.user("Hi"))
    if message.get("type") == "function_call_output":
        pm.append(fmt.calls("c1")[0])
    before = pm.dumps()
    with pytest.raises(InvalidMessageError) as info:
        pm.append(message)
    assert info.value.path == path and words in str(info.value)
    assert pm.dumps() == before
    pm.append(fmt.assistant("Hello.") if message.get("role") == "assistant" else message | {
        "output": "fine"} if "output" in message else fmt.user("Again"))
    pm.build_request()


# ------------------------------------------------------------------ the real SDK

def _sdk_usage(kind: str, body: dict[str, Any]) -> FakeUsage:
    return FakeUsage(prompt=1600, cached=1280, written=256, output=9)


@pytest.mark.parametrize("responses", [False, True])
def test_the_openai_sdk_sends_breakpoints_and_options_as_built(responses: bool) -> None:
    import openai

    fmt = _responses_fmt(prompt_cache_mode="explicit", prompt_cache_ttl="30m",
                         prompt_cache_key="acme") if responses else _chat_fmt(
        prompt_cache_mode="explicit", prompt_cache_ttl="30m", prompt_cache_key="acme")
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter, tools=[fmt.tool()],
                       transition_mode="agent_cycle")
    with FakeServer() as server:
        server.usage = _sdk_usage
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
        pm = PromptManager(cfg)
        pm.append(fmt.user("Status of order 7?"))
        for m in [*fmt.calls("c1"), *fmt.results("c1")]:
            pm.append(m)
        request = pm.build_request("Clock: 09:30")
        if responses:
            reply = client.responses.create(model=MODEL, store=False, **request)
        else:
            reply = client.chat.completions.create(model=MODEL, **request)
        body = server.bodies()[-1]
    assert body == {"model": MODEL, **request, **({"store": False} if responses else {})}
    # the static part and the end of the turn (the tool result): explicit mode
    # has no implicit breakpoint, and the history is still empty
    expected = ["developer", "function_call_output"] if responses else ["system", "tool"]
    assert [role for _, role in _marks(body)] == expected
    assert body["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}
    usage = fmt.adapter.parse_usage(reply)
    assert (usage.cache_read_tokens, usage.cache_write_tokens,
            usage.uncached_input_tokens) == (1280, 256, 64)


# ------------------------------------------------------------------ the model per request

def test_the_model_can_be_set_per_request() -> None:
    fmt = Fmt(OpenAIAdapter(model="gpt-5.5", prompt_cache_retention="24h"))
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter)
    pm = PromptManager(cfg)
    pm.append(fmt.user("Hi"))
    assert _marks(pm.build_request()) == []
    newer = pm.build_request(model="gpt-5.6-luna")
    assert _marks(newer) == [(0, "system")] and newer["prompt_cache_retention"] == "24h"
    assert newer == F.build_request(pm.state, cfg, model="gpt-5.6-luna")
    assert pm.build_request(model="gpt-5.5") == pm.build_request()


def test_a_per_request_model_that_does_not_fit_changes_nothing() -> None:
    from stableprefix import AnthropicAdapter, UnsupportedError

    fmt = Fmt(OpenAIAdapter(model=MODEL, prompt_cache_mode="explicit"))
    cfg = PromptConfig(static_system_prompt=STATIC, adapter=fmt.adapter,
                       dynamic_position="append")
    pm = PromptManager(cfg)
    pm.append(fmt.user("Hi"))
    before = pm.dumps()
    with pytest.raises(ValueError, match=r"GPT-5\.6 or a later"):
        pm.build_request("Clock: 09:30", model="gpt-4o")
    assert pm.dumps() == before  # the context was not recorded
    anthropic = PromptManager(PromptConfig(adapter=AnthropicAdapter()))
    anthropic.append({"role": "user", "content": "Hi"})
    with pytest.raises(UnsupportedError, match="per-model"):
        anthropic.build_request(model="claude-opus-5-5")


@pytest.mark.parametrize("model", ["claude-opus-5-5", "claude-opus-9-latest",
                                   "anthropic/claude-sonnet-5.5", "gpt-9-nova",
                                   "ft:gpt-4o-mini:acme::abc123", "my-own-model"])
def test_any_model_id_builds_a_request(model: str) -> None:
    from stableprefix import AnthropicAdapter

    adapter: ProviderAdapter = (AnthropicAdapter(model=model) if "claude" in model
                                else OpenAIAdapter(model=model))
    pm = PromptManager(PromptConfig(static_system_prompt=STATIC, adapter=adapter))
    pm.append({"role": "user", "content": "Hi"})
    assert pm.build_request()
