"""Behaviour of the functional API: layout, transitions, context, compaction, summaries."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from helpers import FORMAT_IDS, FORMATS, Fmt, all_messages, config_for
from stableprefix import (
    CompactionEvent,
    ContextError,
    HookError,
    PendingToolCallError,
    PromptConfig,
    TransitionError,
    UnsupportedError,
    new_state,
)
from stableprefix import functional as F

fmts = pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)


def _tool_turn(fmt: Fmt, n: int) -> list[dict[str, Any]]:
    return [fmt.user(f"question {n} " + "detail " * 20), fmt.call(f"c{n}"),
            *fmt.results(f"c{n}"), fmt.assistant(f"answer {n} " + "words " * 20)]


@fmts
def test_mode_none_commits_at_once(fmt: Fmt) -> None:
    cfg = config_for(fmt)
    s = F.append_messages(new_state(), [fmt.user("hi"), fmt.assistant("hello")], cfg)
    assert len(s["committed"]) == 2 and s["recent"] == []
    assert s["committed_tokens"] == sum(s["committed_counts"]) > 0
    assert s["format"] == fmt.name


@fmts
def test_agent_cycle_commits_on_a_final_answer_only(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle")
    s = F.append_messages(new_state(), [fmt.user("hi"), fmt.call("a", "b")], cfg)
    assert s["committed"] == [] and s["pending"] == ["a", "b"]
    s = F.append_messages(s, fmt.results("a", "b"), cfg)
    assert s["committed"] == [] and s["pending"] == []
    s = F.append_message(s, fmt.assistant("done"), cfg)
    assert s["recent"] == [] and len(s["committed"]) == 3 + len(fmt.results("a", "b"))


@fmts
def test_manual_transition_is_refused_while_a_call_awaits(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="manual")
    s = F.append_messages(new_state(), [fmt.user("hi"), fmt.call("x")], cfg)
    with pytest.raises(PendingToolCallError) as info:
        F.transition(s, cfg)
    assert info.value.pending == ("x",)
    s = F.append_messages(s, fmt.results("x"), cfg)
    assert len(F.transition(s, cfg)["committed"]) == 3


@fmts
def test_build_is_refused_while_a_call_awaits(fmt: Fmt) -> None:
    cfg = config_for(fmt)
    s = F.append_messages(new_state(), [fmt.user("hi"), fmt.call("x")], cfg)
    with pytest.raises(PendingToolCallError):
        F.build_request(s, cfg)


@fmts
@pytest.mark.parametrize("position", ["tail", "before_recent"])
def test_dynamic_context_is_never_committed(fmt: Fmt, position: str) -> None:
    cfg = config_for(fmt, transition_mode="manual", dynamic_position=position)
    s = F.append_message(new_state(), fmt.user("hi"), cfg)
    req = F.build_request(s, cfg, "clock: 10:00")
    messages = req["messages"]
    ctx = fmt.adapter.context_message("clock: 10:00")
    where = messages.index(ctx)
    assert where == (len(messages) - 1 if position == "tail" else len(messages) - 2)
    s = F.transition(F.append_message(s, fmt.assistant("hello"), cfg), cfg)
    assert ctx not in all_messages(s)
    assert "clock" not in json.dumps(req.get("system", ""))


@fmts
def test_append_context_is_kept_only_when_it_changes(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle", dynamic_position="append")
    s = F.append_message(new_state(), fmt.user("hi"), cfg)
    s, r1 = F.build_turn(s, cfg, "clock: 10:00")
    s = F.append_messages(s, [fmt.call("k")], cfg)
    s = F.append_messages(s, fmt.results("k"), cfg)
    s, r2 = F.build_turn(s, cfg, "clock: 10:00")  # unchanged: not repeated
    s = F.append_message(s, fmt.assistant("bye"), cfg)
    s = F.append_message(s, fmt.user("again"), cfg)
    s, r3 = F.build_turn(s, cfg, "clock: 10:05")
    ctx = fmt.adapter.context_message
    assert all_messages(s).count(ctx("clock: 10:00")) == 1
    assert all_messages(s)[-1] == ctx("clock: 10:05")
    # the whole request is append-only
    strip = fmt.adapter.flatten
    k1, k2, k3 = ([b.key for b in strip(r).blocks] for r in (r1, r2, r3))
    assert k2[: len(k1)] == k1 and k3[: len(k2)] == k2


def test_append_mode_build_request_requires_the_context_recorded() -> None:
    cfg = PromptConfig(dynamic_position="append")
    s = F.append_message(new_state(), {"role": "user", "content": "hi"}, cfg)
    with pytest.raises(ContextError, match="record_context"):
        F.build_request(s, cfg, "clock: 1")
    s2 = F.record_context(s, "clock: 1", cfg)
    assert F.build_request(s2, cfg, "clock: 1")["messages"][-1]["content"] == "clock: 1"


@fmts
def test_tools_are_canonical_and_never_empty(fmt: Fmt) -> None:
    tool = fmt.tool()
    shuffled = json.loads(json.dumps(tool), object_pairs_hook=lambda p: dict(reversed(p)))
    a = config_for(fmt, tools=[tool])
    b = config_for(fmt, tools=[shuffled])
    s = F.append_message(new_state(), fmt.user("hi"), a)
    assert json.dumps(F.build_request(s, a)) == json.dumps(F.build_request(s, b))
    assert "tools" not in F.build_request(s, config_for(fmt))


def test_build_messages_refuses_when_system_would_be_lost() -> None:
    fmt = FORMATS[1]
    cfg = config_for(fmt)
    s = F.append_message(new_state(), fmt.user("hi"), cfg)
    with pytest.raises(UnsupportedError, match="system"):
        F.build_messages(s, cfg)
    cfg_o = config_for(FORMATS[0])
    s_o = F.append_message(new_state(), FORMATS[0].user("hi"), cfg_o)
    assert F.build_messages(s_o, cfg_o) == F.build_request(s_o, cfg_o)["messages"]


@fmts
def test_inputs_are_never_mutated_and_copied_once(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle", history_max_tokens=400)
    msg = fmt.user("hello there")
    s0 = F.append_message(new_state(), msg, cfg)
    msg["content"] = "changed"  # the caller's object is not the stored one
    assert "changed" not in json.dumps(s0)
    before = copy.deepcopy(s0)
    for turn in range(6):
        s1 = F.append_messages(s0, [*_tool_turn(fmt, turn)[1:], fmt.user("next")], cfg)
        F.build_request(s1, cfg, "ctx")
        assert s0 == before
        s0, before = s1, copy.deepcopy(s1)


@fmts
def test_compaction_drops_whole_oldest_rounds(fmt: Fmt) -> None:
    events: list[CompactionEvent] = []
    cfg = config_for(fmt, transition_mode="agent_cycle", history_max_tokens=600,
                     on_event=events.append)
    s = new_state()
    for n in range(12):
        s = F.append_messages(s, _tool_turn(fmt, n), cfg)
    assert events, "history went over budget, so it must have compacted"
    assert s["committed_tokens"] <= 600
    assert fmt.adapter.is_user_turn(s["committed"][0])
    assert F.append_message(s, fmt.user("still works"), cfg)
    # nothing lost: kept + removed == appended
    removed = [m for e in events for m in e.removed]
    appended = [m for n in range(12) for m in _tool_turn(fmt, n)]
    assert removed + s["committed"] == appended
    for e in events:
        assert e.tokens_after <= e.target_tokens == 300 and e.strategy == "truncate_oldest"


@fmts
def test_compaction_keeps_the_newest_round_even_if_it_is_too_big(fmt: Fmt) -> None:
    cfg = config_for(fmt, history_max_tokens=50, compaction_target=10)
    s = F.append_messages(new_state(), [fmt.user("a " * 100), fmt.assistant("b " * 100)], cfg)
    assert len(s["committed"]) == 2
    s = F.append_message(s, fmt.user("short"), cfg)
    assert s["committed"] == [fmt.user("short")]


@fmts
def test_compaction_hook_summarises(fmt: Fmt) -> None:
    def hook(messages: list[dict[str, Any]], target: int, adapter: Any) -> list[dict[str, Any]]:
        assert 0 <= target <= 300  # the room left next to the turn in progress
        return [fmt.user("summary of earlier turns"), *messages[-4:]]

    events: list[CompactionEvent] = []
    cfg = config_for(fmt, transition_mode="agent_cycle", history_max_tokens=600,
                     compaction_hook=hook)
    s = new_state()
    for n in range(10):
        s = F.append_messages(s, _tool_turn(fmt, n), cfg, on_event=events.append)
    assert events and events[0].strategy == "compaction_hook"
    assert events[0].added == (fmt.user("summary of earlier turns"),)
    assert s["compactions"] == len(events)


def _bad_hooks(fmt: Fmt) -> list[tuple[str, Any, str]]:
    return [
        ("raises", lambda m, t, a: 1 / 0, "raised ZeroDivisionError"),
        ("not a list", lambda m, t, a: "nope", "must return a list"),
        ("bad message", lambda m, t, a: [{"role": "wizard", "content": "x"}], "invalid message"),
        ("over budget", lambda m, t, a: m, "more than the budget"),
        ("orphaned result", lambda m, t, a: m[2:], "does not start with a user"),
        ("separated pair", lambda m, t, a: [m[0], m[1], m[3]], "separated a tool call"),
        ("non-json", lambda m, t, a: [{"role": "user", "content": {1, 2}}], "invalid message"),
    ]


@fmts
@pytest.mark.parametrize("case", range(7), ids=[c[0] for c in _bad_hooks(FORMATS[0])])
def test_a_broken_compaction_hook_changes_nothing(fmt: Fmt, case: int) -> None:
    name, hook, words = _bad_hooks(fmt)[case]
    cfg = config_for(fmt, transition_mode="agent_cycle", history_max_tokens=10_000,
                     compaction_hook=hook)
    s = new_state()
    for n in range(3):
        s = F.append_messages(s, _tool_turn(fmt, n), cfg)
    before = copy.deepcopy(s)
    with pytest.raises(HookError) as info:
        small = cfg.replace(history_max_tokens=10, compaction_target=5)
        F.compact(s, small if name == "over budget" else cfg)
    assert words in str(info.value) and info.value.hook == "compaction_hook"
    assert s == before


@fmts
def test_transition_hook_rewrites_and_is_validated(fmt: Fmt) -> None:
    def shorten(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for m in messages:
            if m["role"] == "tool":
                m = {**m, "content": "[trimmed]"}
            out.append(m)
        return out

    cfg = config_for(fmt, transition_mode="agent_cycle", transition_hook=shorten)
    s = F.append_messages(new_state(), _tool_turn(fmt, 1), cfg)
    assert len(s["committed"]) == 3 + len(fmt.results("x"))
    drop = config_for(fmt, transition_mode="agent_cycle", transition_hook=lambda m: m[:1] + m[3:])
    s2 = F.append_messages(new_state(), _tool_turn(fmt, 1)[:-1], drop)
    with pytest.raises(HookError, match="tool calls or tool results"):
        F.append_message(s2, fmt.assistant("final"), drop)


@fmts
def test_summary_request_reuses_the_cached_prefix(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle", tools=[fmt.tool()])
    s = new_state()
    for n in range(3):
        s = F.append_messages(s, _tool_turn(fmt, n), cfg)
    s = F.append_message(s, fmt.user("next question"), cfg)
    normal = fmt.adapter.flatten(F.build_request(s, cfg, "ctx"))
    summary = fmt.adapter.flatten(F.build_summary_request(s, cfg, instruction="Summarise."))
    n_prefix = len(normal.blocks) - 2  # recent user message + context
    assert [b.key for b in summary.blocks[:n_prefix]] == [b.key for b in normal.blocks[:n_prefix]]
    s2 = F.apply_summary(s, "They asked three questions.", cfg, keep_last_rounds=1)
    assert s2["committed"][0] == fmt.adapter.summary_message("They asked three questions.")
    assert s2["committed"][1:] == s["committed"][-len(_tool_turn(fmt, 2)):]
    assert s2["recent"] == s["recent"]
    with pytest.raises(TransitionError, match="nothing older"):
        F.apply_summary(s2, "x", cfg, keep_last_rounds=5)


@fmts
def test_fingerprint_tracks_the_cacheable_prefix(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="manual")
    s = F.append_message(new_state(), fmt.user("hi"), cfg)
    fp0 = F.prefix_fingerprint(s, cfg)
    assert F.prefix_fingerprint(F.append_message(s, fmt.assistant("x"), cfg), cfg) == fp0
    s2 = F.transition(s, cfg)
    assert F.prefix_fingerprint(s2, cfg) != fp0
    other = config_for(fmt, transition_mode="manual", static_system_prompt="different")
    assert F.prefix_fingerprint(s2, other) != F.prefix_fingerprint(s2, cfg)


def test_sdk_message_objects_are_reduced_to_request_fields() -> None:
    import anthropic.types as at
    import openai.types.chat as oc

    reply = oc.ChatCompletionMessage.model_validate({
        "role": "assistant", "content": None, "annotations": [], "refusal": None,
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "f", "arguments": "{}"}}]})
    cfg = PromptConfig()
    s = F.append_messages(new_state(), [{"role": "user", "content": "hi"}, reply], cfg)
    assert s["committed"][1] == {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    message = at.Message.model_validate({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}})
    an = config_for(FORMATS[1])
    s = F.append_messages(new_state(), [FORMATS[1].user("hi"), message], an)
    assert s["committed"][1]["role"] == "assistant"
    assert set(s["committed"][1]) == {"role", "content"}
    assert s["committed"][1]["content"][0]["text"] == "Hello"


def test_anthropic_sdk_blocks_inside_a_dict_are_accepted() -> None:
    import anthropic.types as at

    blocks = [at.TextBlock(type="text", text="Let me check."),
              at.ToolUseBlock(type="tool_use", id="t1", name="lookup", input={"q": "x"})]
    an = config_for(FORMATS[1])
    s = F.append_messages(new_state(), [FORMATS[1].user("hi"),
                                        {"role": "assistant", "content": blocks}], an)
    assert s["committed"][1]["content"][1] == {
        "type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}}
    assert s["pending"] == ["t1"]


@fmts
def test_the_budget_covers_the_turn_in_progress(fmt: Fmt) -> None:
    events: list[CompactionEvent] = []
    cfg = config_for(fmt, transition_mode="agent_cycle", history_max_tokens=500,
                     on_event=events.append)
    s = F.append_messages(new_state(), _tool_turn(fmt, 0), cfg)  # the previous task
    previous = list(s["committed"])
    s = F.append_message(s, fmt.user("a new task " + "detail " * 20), cfg)
    for k in range(8):  # tool steps of the new task grow the turn in progress
        s = F.append_messages(s, [fmt.call(f"k{k}"), *fmt.results(f"k{k}", text="data " * 40)],
                              cfg)
    assert events and [m for e in events for m in e.removed] == previous
    assert s["committed"] == [] and len(s["recent"]) == 1 + 8 * (1 + len(fmt.results("x")))
    assert s["pending"] == []
    s = F.append_message(s, fmt.assistant("done"), cfg)  # the turn stays whole
    assert fmt.adapter.is_user_turn(s["committed"][0])
