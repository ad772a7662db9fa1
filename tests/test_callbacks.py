"""Hooks, callbacks and token counters cannot break the conversation's invariants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import ALL_FORMAT_IDS, ALL_FORMATS, FORMATS, Fmt, all_messages, config_for
from stableprefix import (
    CompactionEvent,
    Event,
    HookError,
    OpenAIAdapter,
    PromptConfig,
    PromptManager,
    TransitionError,
    check_state,
    new_state,
)
from stableprefix import functional as F

OA, AN = FORMATS
allfmts = pytest.mark.parametrize("fmt", ALL_FORMATS, ids=ALL_FORMAT_IDS)


# ------------------------------------------------------------------- events


def test_on_event_receives_every_event_and_only_committed_ones() -> None:
    seen: list[Event] = []
    cfg = config_for(OA, history_max_tokens=120, on_event=seen.append)
    first = [OA.user("alpha " * 100), OA.assistant("beta " * 100)]
    state = F.append_messages(new_state(), first, cfg)
    batch = [OA.user("gamma " * 100), OA.assistant("delta " * 100)]
    F.append_messages(state, batch, cfg)
    assert seen and all(isinstance(e, CompactionEvent) for e in seen)  # this batch compacts
    seen.clear()
    # ... but when a later message of it fails, nothing was applied and nothing is reported
    with pytest.raises(Exception, match="bogus"):
        F.append_messages(state, [*batch, {"role": "bogus"}], cfg)
    pm = PromptManager(cfg, state)
    with pytest.raises(Exception, match="bogus"):
        pm.extend([*batch, {"role": "bogus"}])
    assert seen == []


def test_a_batch_whose_second_event_fails_reports_only_applied_changes() -> None:
    seen: list[CompactionEvent] = []

    def sink(event: Event) -> None:
        assert isinstance(event, CompactionEvent)
        seen.append(event)
        if len(seen) == 2:
            raise RuntimeError("disk full")

    cfg = config_for(OA, history_max_tokens=100, on_event=sink)
    batch = [m for i in range(6) for m in (OA.user(f"q{i} " * 30), OA.assistant(f"a{i} " * 30))]
    with pytest.raises(HookError, match="disk full") as info:
        F.append_messages(new_state(), batch, cfg)
    final = info.value.state
    assert final is not None and final["compactions"] == len(seen) >= 3
    # every removal that was reported really left the state, and nothing else did
    removed = [m for e in seen for m in e.removed]
    assert removed + all_messages(final) == batch


def test_on_event_may_change_the_same_manager_without_loss() -> None:
    cfg = config_for(OA, history_max_tokens=120)
    notes: list[str] = []
    pm: PromptManager

    def sink(event: Event) -> None:
        if isinstance(event, CompactionEvent) and len(notes) < 1:
            notes.append("compacted")
            pm.append(OA.assistant("note: history was compacted"))

    pm = PromptManager(cfg.replace(on_event=sink))
    pm.extend([OA.user("alpha " * 100), OA.assistant("beta " * 100)])
    pm.append(OA.user("gamma " * 100))
    contents = [m["content"] for m in all_messages(pm.state)]
    assert notes == ["compacted"]
    assert "note: history was compacted" in contents and "gamma " * 100 in contents


@pytest.mark.parametrize("where", ["transition_hook", "compaction_hook", "token_counter"])
def test_a_hook_calling_back_into_its_manager_is_refused_and_nothing_is_lost(where: str) -> None:
    pm: PromptManager
    calls: list[str] = []

    def reenter() -> None:
        if not calls:
            calls.append(where)
            pm.append(OA.user("sneaked in"))

    def transition_hook(msgs: list[Any]) -> list[Any]:
        reenter()
        return msgs

    def compaction_hook(msgs: list[Any], target: int, adapter: Any) -> list[Any]:
        reenter()
        return msgs[-1:]

    class Counter:
        def count_text(self, text: str) -> int:
            if text == "trigger":
                reenter()
            return len(text)

    if where == "transition_hook":
        cfg = config_for(OA, transition_hook=transition_hook)
    elif where == "compaction_hook":
        cfg = config_for(OA, history_max_tokens=60, compaction_hook=compaction_hook)
        cfg = cfg.replace(history_max_tokens=2 * OA.adapter.count_tokens(OA.user("x " * 20)))
    else:
        cfg = PromptConfig(adapter=OpenAIAdapter(token_counter=Counter()))
    pm = PromptManager(cfg)
    pm.extend([OA.user("x " * 20), OA.assistant("y " * 20)] if where != "transition_hook" else [])
    before = pm.state
    message = OA.user("trigger" if where == "token_counter" else "z " * 40)
    with pytest.raises((HookError, TransitionError), match="called back into"):
        pm.append(message)
    assert calls and pm.state == before  # refused whole: no message dropped, none half-added
    assert "sneaked in" not in json.dumps(pm.state)
    pm.append(OA.user("usable"))


# -------------------------------------------------------------- token counters


@pytest.mark.parametrize("bad", [-1, 2.5, "3", None, True])
def test_token_counter_results_are_validated(bad: Any) -> None:
    class Broken:
        def count_text(self, text: str) -> Any:
            return bad if text == "odd" else len(text)

    cfg = PromptConfig(adapter=OpenAIAdapter(token_counter=Broken()))
    pm = PromptManager(cfg)
    pm.append(OA.user("fine"))
    before = pm.state
    with pytest.raises(HookError, match="token_counter"):
        pm.append(OA.user("odd"))
    with pytest.raises(HookError, match="token_counter"):
        F.append_message(before, OA.user("odd"), cfg)
    assert pm.state == before
    pm.append(OA.assistant("still fine"))


def test_a_token_counter_that_raises_is_reported_as_a_hook_error() -> None:
    class Down:
        def count_text(self, text: str) -> int:
            if text:
                raise ConnectionError("tokenizer server down")
            return 0

    cfg = PromptConfig(adapter=OpenAIAdapter(token_counter=Down()))
    with pytest.raises(HookError, match="tokenizer server down"):
        F.append_message(new_state(), OA.user("x"), cfg)


# ---------------------------------------------------------------- transitions


@allfmts
def test_a_transition_hook_may_not_separate_a_call_from_its_results(fmt: Fmt) -> None:
    def wedge(msgs: list[Any]) -> list[Any]:
        out: list[Any] = []
        for m in msgs:
            out.append(m)
            if fmt.adapter.tool_call_ids(m):
                out.append(fmt.user("wedged in"))
        return out

    cfg = config_for(fmt, transition_mode="agent_cycle", transition_hook=wedge)
    turn = [fmt.user("go"), *fmt.calls("c1"), *fmt.results("c1"), fmt.assistant("done")]
    with pytest.raises(HookError, match="transition_hook: separated a tool call"):
        F.append_messages(new_state(), turn, cfg)
    pm = PromptManager(cfg)
    with pytest.raises(HookError):
        pm.extend(turn)
    assert pm.state == new_state()


@allfmts
def test_changing_transition_mode_mid_turn_never_reorders(fmt: Fmt) -> None:
    cycle = config_for(fmt, transition_mode="agent_cycle")
    now = cycle.replace(transition_mode="none")
    state = F.append_messages(new_state(), [fmt.user("q1"), *fmt.calls("c1")], cycle)
    for step in [*fmt.results("c1"), fmt.assistant("a1"), fmt.user("q2")]:
        state = F.append_message(state, step, now)
    sent = [fmt.user("q1"), *fmt.calls("c1"), *fmt.results("c1"), fmt.assistant("a1"),
            fmt.user("q2")]
    assert all_messages(state) == sent
    assert state["recent"] == []  # "none" commits the turn as soon as no call awaits
    check_state(json.loads(json.dumps(state)), now)
    pm = PromptManager(cycle)
    pm.extend([fmt.user("q1"), *fmt.calls("c1")])
    pm2 = PromptManager(now, pm.state)
    pm2.extend([*fmt.results("c1"), fmt.assistant("a1"), fmt.user("q2")])
    assert all_messages(pm2.state) == sent
