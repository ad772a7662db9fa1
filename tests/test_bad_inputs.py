"""Bad input: a specific error with a helpful message, and nothing changed.

Every case runs twice: through the functional API (the input state must be
exactly as before) and through ``PromptManager`` (its state must be exactly
as before and it must keep working).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import FORMATS, Fmt
from stableprefix import (
    ContextError,
    GeminiAdapter,
    InvalidConfigError,
    InvalidMessageError,
    InvalidStateError,
    OpenAIResponsesAdapter,
    PendingToolCallError,
    PromptConfig,
    PromptManager,
    UnsupportedError,
    new_state,
)
from stableprefix import functional as F
from stableprefix._json import MAX_DEPTH

OA, AN = FORMATS
RS, GE = (Fmt(a) for a in (OpenAIResponsesAdapter(), GeminiAdapter()))


class Functional:
    def __init__(self, cfg: PromptConfig, state: Any) -> None:
        self.cfg, self.state = cfg, state

    def append(self, m: Any) -> None:
        self.state = F.append_message(self.state, m, self.cfg)

    def extend(self, ms: Any) -> None:
        self.state = F.append_messages(self.state, ms, self.cfg)

    def build(self, dyn: Any = None) -> Any:
        return F.build_request(self.state, self.cfg, dyn)

    def build_messages(self) -> Any:
        return F.build_messages(self.state, self.cfg)

    def transition(self) -> None:
        self.state = F.transition(self.state, self.cfg)

    def compact(self) -> None:
        self.state = F.compact(self.state, self.cfg)

    def summary(self, text: Any, keep: Any) -> None:
        self.state = F.apply_summary(self.state, text, self.cfg, keep_last_rounds=keep)

    def snapshot(self) -> Any:
        return self.state


class Managed(Functional):
    def __init__(self, cfg: PromptConfig, state: Any) -> None:
        self.cfg, self.pm = cfg, PromptManager(cfg, state)

    def append(self, m: Any) -> None:
        self.pm.append(m)

    def extend(self, ms: Any) -> None:
        self.pm.extend(ms)

    def build(self, dyn: Any = None) -> Any:
        return self.pm.build_request(dyn)

    def build_messages(self) -> Any:
        return self.pm.build_messages()

    def transition(self) -> None:
        self.pm.transition()

    def compact(self) -> None:
        self.pm.compact()

    def summary(self, text: Any, keep: Any) -> None:
        self.pm.apply_summary(text, keep_last_rounds=keep)

    def snapshot(self) -> Any:
        return self.pm.state


@dataclass
class Case:
    id: str
    fmt: Fmt
    act: Callable[[Functional], Any]
    error: type[BaseException]
    words: str
    setup: list[dict[str, Any]] = field(default_factory=list)
    cfg: dict[str, Any] = field(default_factory=dict)
    managed: bool = True


def call(fmt: Fmt, *ids: str) -> dict[str, Any]:
    return fmt.call(*ids)


U = OA.user("hi")
CASES = [
    Case("message is a string", OA, lambda c: c.append("hello"), TypeError, "must be a dict"),
    Case("message is None", OA, lambda c: c.append(None), TypeError, "must be a dict"),
    Case("append_messages with a dict", OA, lambda c: c.extend(U), TypeError, "iterable"),
    Case("missing role", OA, lambda c: c.append({"content": "x"}), InvalidMessageError,
         "role must be one of"),
    Case("unknown role", OA, lambda c: c.append({"role": "wizard", "content": "x"}),
         InvalidMessageError, "got 'wizard'"),
    Case("content is a number", OA, lambda c: c.append({"role": "user", "content": 5}),
         InvalidMessageError, "content must be a string"),
    Case("content is an empty list", OA, lambda c: c.append({"role": "user", "content": []}),
         InvalidMessageError, "non-empty list"),
    Case("unknown content part", OA,
         lambda c: c.append({"role": "user", "content": [{"type": "video"}]}),
         InvalidMessageError, "type in"),
    Case("text part without text", OA,
         lambda c: c.append({"role": "user", "content": [{"type": "text"}]}),
         InvalidMessageError, "needs a string 'text'"),
    Case("NaN in a message", OA,
         lambda c: c.append({"role": "user", "content": "x", "meta": float("nan")}),
         InvalidMessageError, "not finite"),
    Case("non-string key", OA, lambda c: c.append({"role": "user", "content": "x", 1: 2}),
         InvalidMessageError, "is not a string"),
    Case("a set inside", OA, lambda c: c.append({"role": "user", "content": "x", "s": {1}}),
         InvalidMessageError, "not a JSON value"),
    Case("assistant with nothing", OA, lambda c: c.append({"role": "assistant"}),
         InvalidMessageError, "needs content or tool_calls", setup=[U]),
    Case("empty tool_calls", OA,
         lambda c: c.append({"role": "assistant", "content": "x", "tool_calls": []}),
         InvalidMessageError, "non-empty list", setup=[U]),
    Case("tool call without id", OA,
         lambda c: c.append({"role": "assistant", "tool_calls": [
             {"type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
         InvalidMessageError, "non-empty string id", setup=[U]),
    Case("duplicate tool call ids", OA,
         lambda c: c.append({"role": "assistant",
                             "tool_calls": [call(OA, "a")["tool_calls"][0]] * 2}),
         InvalidMessageError, "used twice", setup=[U]),
    Case("arguments not a string", OA,
         lambda c: c.append({"role": "assistant", "tool_calls": [
             {"id": "a", "type": "function", "function": {"name": "f", "arguments": {}}}]}),
         InvalidMessageError, "JSON string", setup=[U]),
    Case("tool message without id", OA, lambda c: c.append({"role": "tool", "content": "x"}),
         InvalidMessageError, "tool_call_id", setup=[U, call(OA, "a")]),
    Case("orphan tool result", OA, lambda c: c.append(OA.results("zz")[0]),
         InvalidMessageError, "no tool call is awaiting", setup=[U]),
    Case("result for another id", OA, lambda c: c.append(OA.results("zz")[0]),
         InvalidMessageError, "not awaiting a result", setup=[U, call(OA, "a")]),
    Case("user message while a call awaits", OA, lambda c: c.append(OA.user("more")),
         PendingToolCallError, "append the tool results", setup=[U, call(OA, "a")]),
    Case("name not a string", OA, lambda c: c.append({"role": "user", "content": "x", "name": 3}),
         InvalidMessageError, "name must be a string"),
    Case("batch fails at its third message", OA,
         lambda c: c.extend([OA.user("a"), OA.assistant("b"), {"role": "bogus"}]),
         InvalidMessageError, "message 2", setup=[U]),
    Case("anthropic system role", AN, lambda c: c.append({"role": "system", "content": "x"}),
         InvalidMessageError, "no system role"),
    Case("anthropic empty content", AN, lambda c: c.append({"role": "user", "content": "  "}),
         InvalidMessageError, "must not be empty"),
    Case("anthropic empty text block", AN,
         lambda c: c.append({"role": "user", "content": [{"type": "text", "text": ""}]}),
         InvalidMessageError, "non-empty string 'text'"),
    Case("anthropic tool_use from the user", AN,
         lambda c: c.append({"role": "user", "content": [
             {"type": "tool_use", "id": "a", "name": "f", "input": {}}]}),
         InvalidMessageError, "block must have type in"),
    Case("anthropic tool_result after text", AN,
         lambda c: c.append({"role": "user", "content": [
             {"type": "text", "text": "see"},
             {"type": "tool_result", "tool_use_id": "a", "content": "r"}]}),
         InvalidMessageError, "must come before", setup=[AN.user("hi"), call(AN, "a")]),
    Case("anthropic partial results", AN, lambda c: c.append(AN.results("a")[0]),
         InvalidMessageError, "missing results for b", setup=[AN.user("hi"), call(AN, "a", "b")]),
    Case("anthropic starts with assistant", AN, lambda c: c.append(AN.assistant("hello")),
         InvalidMessageError, "must start with a user"),
    Case("anthropic marker on thinking", AN,
         lambda c: c.append({"role": "assistant", "content": [
             {"type": "thinking", "thinking": "t", "signature": "s",
              "cache_control": {"type": "ephemeral"}}]}),
         InvalidMessageError, "thinking block", setup=[AN.user("hi")]),
    Case("anthropic bad ttl", AN,
         lambda c: c.append({"role": "user", "content": [
             {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]}),
         InvalidMessageError, "'5m' or '1h'"),
    Case("anthropic tool input not an object", AN,
         lambda c: c.append({"role": "assistant", "content": [
             {"type": "tool_use", "id": "a", "name": "f", "input": "x"}]}),
         InvalidMessageError, "object 'input'", setup=[AN.user("hi")]),
    Case("dynamic context not a string", OA, lambda c: c.build(42), TypeError,
         "str or None", setup=[U]),
    Case("build while a call awaits", OA, lambda c: c.build(), PendingToolCallError,
         "await results", setup=[U, call(OA, "a")]),
    Case("transition while a call awaits", OA, lambda c: c.transition(), PendingToolCallError,
         "awaits its result", setup=[U, call(OA, "a")], cfg={"transition_mode": "manual"}),
    Case("build_messages for anthropic", AN, lambda c: c.build_messages(), UnsupportedError,
         "build_request", setup=[AN.user("hi")]),
    Case("append context not recorded", OA, lambda c: F.build_request(c.snapshot(), c.cfg, "t"),
         ContextError, "record_context", setup=[U], cfg={"dynamic_position": "append"},
         managed=False),
    Case("compact without a budget", OA, lambda c: c.compact(), InvalidConfigError,
         "max_tokens", setup=[U]),
    Case("negative keep_last_rounds", OA, lambda c: c.summary("s", -1), ValueError, ">= 0",
         setup=[U]),
    Case("summary not a string", OA, lambda c: c.summary(None, 1), TypeError, "must be a str",
         setup=[U, OA.assistant("a"), OA.user("b")]),
    Case("empty anthropic summary", AN, lambda c: c.summary("", 1), InvalidMessageError,
         "must not be empty", setup=[AN.user("a"), AN.assistant("b"), AN.user("c")]),
    Case("state of another provider", OA,
         lambda c: F.append_message(F.append_message(new_state(), AN.user("x"),
                                                     PromptConfig(adapter=AN.adapter)), U, c.cfg),
         InvalidStateError, "uses openai", managed=False),
    # text that cannot be encoded as UTF-8, wherever it enters
    Case("lone surrogate in content", OA, lambda c: c.append(OA.user("bad \ud800")),
         InvalidMessageError, "$.content: text holds"),
    Case("lone surrogate in a key", OA,
         lambda c: c.append({"role": "user", "content": "x", "\udfff": 1}),
         InvalidMessageError, "surrogate"),
    Case("lone surrogate in an anthropic block", AN,
         lambda c: c.append({"role": "user", "content": [{"type": "text", "text": "\ud800"}]}),
         InvalidMessageError, "$.content[0].text"),
    Case("lone surrogate in the dynamic context", OA, lambda c: c.build("now \ud800"),
         ValueError, "dynamic_system_prompt: text holds", setup=[U]),
    Case("lone surrogate in a kept context", OA,
         lambda c: F.build_turn(c.snapshot(), c.cfg, "now \ud800"), ValueError,
         "dynamic_system_prompt: text holds", setup=[U], cfg={"dynamic_position": "append"},
         managed=False),
    Case("lone surrogate in a summary", OA, lambda c: c.summary("sum \ud800", 1),
         InvalidMessageError, "surrogate", setup=[U, OA.assistant("a"), OA.user("b")]),
    # numbers and nesting
    Case("infinity in tool arguments", AN,
         lambda c: c.append({"role": "assistant", "content": [
             {"type": "tool_use", "id": "a", "name": "f", "input": {"x": float("inf")}}]}),
         InvalidMessageError, "$.content[0].input.x: number inf is not finite",
         setup=[AN.user("hi")]),
    Case("nesting deeper than the limit", OA,
         lambda c: c.append({"role": "user", "content": "x", "meta": _deep(MAX_DEPTH)}),
         InvalidMessageError, f"deeper than {MAX_DEPTH} levels"),
    Case("a message containing itself", OA, lambda c: c.append(_looped()),
         InvalidMessageError, "contains itself"),
    # duplicate tool call ids, in every format
    Case("anthropic duplicate tool_use ids", AN,
         lambda c: c.append({"role": "assistant", "content": [
             {"type": "tool_use", "id": "a", "name": "f", "input": {}},
             {"type": "tool_use", "id": "a", "name": "g", "input": {}}]}),
         InvalidMessageError, "'a' is used twice", setup=[AN.user("hi")]),
    Case("gemini given id equal to a derived one", GE,
         lambda c: c.append({"role": "model", "parts": [
             {"function_call": {"name": "f", "args": {}}},
             {"function_call": {"id": "f#0", "name": "f", "args": {}}}]}),
         InvalidMessageError, "'f#0' is used twice", setup=[GE.user("hi")]),
    Case("responses call id reused", RS,
         lambda c: c.extend([*RS.calls("a"), *RS.calls("a")]),
         InvalidMessageError, "'a' is already awaiting", setup=[RS.user("hi")]),
    # block shapes
    Case("part type not a string", OA,
         lambda c: c.append({"role": "user", "content": [{"type": 5, "text": "x"}]}),
         InvalidMessageError, "got 5"),
    Case("anthropic block type not a string", AN,
         lambda c: c.append({"role": "user", "content": [{"type": ["text"], "text": "x"}]}),
         InvalidMessageError, "$.content[0].type"),
    Case("anthropic white-space text block", AN,
         lambda c: c.append({"role": "user", "content": [{"type": "text", "text": " \n\t"}]}),
         InvalidMessageError, "not white space only"),
    Case("anthropic tool_use nested in a tool_result", AN,
         lambda c: c.append({"role": "user", "content": [
             {"type": "tool_result", "tool_use_id": "a", "content": [
                 {"type": "tool_use", "id": "b", "name": "f", "input": {}}]}]}),
         InvalidMessageError, "$.content[0].content[0].type",
         setup=[AN.user("hi"), call(AN, "a")]),
    Case("anthropic empty text nested in a tool_result", AN,
         lambda c: c.append({"role": "user", "content": [
             {"type": "tool_result", "tool_use_id": "a", "content": [
                 {"type": "text", "text": "  "}]}]}),
         InvalidMessageError, "$.content[0].content[0].text",
         setup=[AN.user("hi"), call(AN, "a")]),
    # SDK-like objects
    Case("model_dump raises", OA, lambda c: c.append(_Dumps(RuntimeError("broken"))),
         InvalidMessageError, "message object failed (RuntimeError: broken)"),
    Case("model_dump returns a list", OA, lambda c: c.append(_Dumps([1])), TypeError,
         "must be a dict"),
    Case("SDK tool_calls hold a number", OA,
         lambda c: c.append(_Dumps({"role": "assistant", "tool_calls": [5]})),
         InvalidMessageError, "tool_calls", setup=[U]),
    # wrong argument types
    Case("config is None", OA, lambda c: F.append_message(c.snapshot(), U, None),
         TypeError, "config must be a PromptConfig", managed=False),
    Case("state is a list", OA, lambda c: F.build_request([], c.cfg), TypeError,
         "state must be a state dict", managed=False),
    Case("an unchecked state with a wrong total", OA,
         lambda c: F.append_message({**c.snapshot(), "committed_tokens": 1}, U, c.cfg),
         InvalidStateError, "$.committed_tokens", setup=[U], managed=False),
    Case("an unchecked state without messages", OA,
         lambda c: F.transition({"version": 1}, c.cfg), InvalidStateError, "missing field",
         managed=False),
]


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"v": value}
    return value


def _looped() -> dict[str, Any]:
    message: dict[str, Any] = {"role": "user", "content": "x"}
    message["again"] = [message]
    return message


class _Dumps:
    """An SDK-like object whose model_dump returns (or raises) what it is given."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def model_dump(self, **kwargs: Any) -> Any:
        if isinstance(self.out, Exception):
            raise self.out
        return self.out


def _ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
@pytest.mark.parametrize("kind", ["functional", "manager"])
def test_bad_input_is_refused_and_changes_nothing(case: Case, kind: str) -> None:
    if kind == "manager" and not case.managed:
        pytest.skip("functional-only operation")
    cfg = PromptConfig(adapter=case.fmt.adapter, static_system_prompt="S", **case.cfg)
    state = F.append_messages(new_state(), case.setup, cfg)
    ctx = (Functional if kind == "functional" else Managed)(cfg, state)
    before = copy.deepcopy(ctx.snapshot())
    with pytest.raises(case.error) as info:
        case.act(ctx)
    assert case.words in str(info.value), f"unhelpful message: {info.value}"
    assert ctx.snapshot() == before
    assert state == before
    if kind == "manager":  # still usable afterwards
        fmt = case.fmt
        pending = before["pending"]
        ctx.extend(fmt.results(*pending) if pending else [fmt.user("ok")] if not before[
            "recent"] and not before["committed"] else [])
        ctx.append(fmt.assistant("fine"))
        assert ctx.build("ctx")


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


BAD_CONFIGS: list[tuple[dict[str, Any], type[BaseException], str]] = [
    ({"history_max_tokens": 0}, InvalidConfigError, "must be > 0"),
    ({"history_max_tokens": "100"}, TypeError, "int or None"),
    ({"history_max_tokens": 100, "compaction_target": 100}, InvalidConfigError,
     "< history_max_tokens"),
    ({"compaction_target": 10}, InvalidConfigError, "needs history_max_tokens"),
    ({"transition_mode": "always"}, InvalidConfigError, "transition_mode"),
    ({"dynamic_position": "head"}, InvalidConfigError, "dynamic_position"),
    ({"tools": {"name": "x"}}, TypeError, "list of dicts"),
    ({"tools": [{"name": "x"}]}, InvalidConfigError, "type': 'function'"),
    ({"tools": [{"type": "function", "function": {"name": "f", "x": float("inf")}}]},
     InvalidConfigError, "not finite"),
    ({"adapter": "openai"}, TypeError, "ProviderAdapter"),
    ({"compaction_hook": "summarise"}, TypeError, "callable"),
    ({"static_system_prompt": None}, TypeError, "must be a str"),
    ({"static_system_prompt": "rules \udc80"}, InvalidConfigError, "surrogate"),
    ({"tools": [{"type": "function", "function": {"name": "f\ud800"}}]}, InvalidConfigError,
     "surrogate"),
]


@pytest.mark.parametrize(("kwargs", "error", "words"), BAD_CONFIGS,
                         ids=[next(iter(k)) + str(i) for i, (k, _, _) in enumerate(BAD_CONFIGS)])
def test_bad_config_is_refused(kwargs: dict[str, Any], error: type[BaseException],
                               words: str) -> None:
    with pytest.raises(error, match=None) as info:
        PromptConfig(**kwargs)
    assert words in str(info.value)
