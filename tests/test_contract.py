"""One contract, every adapter: the behaviours DESIGN.md promises, in each wire format.

The random-operation invariants run over every format in ``test_properties``;
this suite pins the named behaviours with readable examples.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from helpers import ALL_FORMAT_IDS, ALL_FORMATS, Fmt, all_messages, config_for
from stableprefix import (
    CompactionEvent,
    InvalidMessageError,
    PendingToolCallError,
    PromptManager,
    StablePrefixError,
    dumps,
    loads,
    new_state,
)
from stableprefix import functional as F

every = pytest.mark.parametrize("fmt", ALL_FORMATS, ids=ALL_FORMAT_IDS)


def turn(fmt: Fmt, n: int, *, calls: int = 1) -> list[dict[str, Any]]:
    ids = [f"c{n}_{i}" for i in range(calls)]
    return [fmt.user(f"question {n} " + "detail " * 30), *fmt.calls(*ids),
            *fmt.results(*ids, text="output " * 20), fmt.assistant(f"answer {n} " + "w " * 30)]


def keys(fmt: Fmt, request: dict[str, Any]) -> list[str]:
    return [b.key for b in fmt.adapter.flatten(request).blocks]


@every
def test_agent_cycle_commits_the_whole_turn_at_the_final_answer(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle", tools=[fmt.tool()])
    messages = turn(fmt, 1, calls=2)
    s = F.append_messages(new_state(), messages[:-1], cfg)
    assert s["committed"] == [] and s["pending"] == []
    s = F.append_message(s, messages[-1], cfg)
    assert s["recent"] == [] and s["committed"] == messages


@every
def test_nothing_is_built_or_moved_while_a_call_awaits(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="manual")
    s = F.append_messages(new_state(), [fmt.user("go"), *fmt.calls("x", "y")], cfg)
    for action in (lambda: F.build_request(s, cfg), lambda: F.transition(s, cfg),
                   lambda: F.append_message(s, fmt.user("more"), cfg)):
        with pytest.raises(PendingToolCallError):
            action()


@every
@pytest.mark.parametrize("position", ["auto", "tail", "before_recent", "append"])
def test_requests_only_grow_between_compactions(fmt: Fmt, position: str) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle", dynamic_position=position,
                     tools=[fmt.tool()])
    s, previous = new_state(), None
    for n in range(4):
        for i, message in enumerate(turn(fmt, n)):
            s = F.append_message(s, message, cfg)
            if i in (0, 2):  # after the question and after the tool results
                s, request = F.build_turn(s, cfg, f"clock 10:0{n}")
                if previous is not None:
                    stable = keys(fmt, previous[1])[: previous[0]]
                    assert keys(fmt, request)[: len(stable)] == stable
                previous = (_stable_blocks(fmt, cfg, s), request)


def _stable_blocks(fmt: Fmt, cfg: Any, state: Any) -> int:
    from stableprefix.adapters import RequestParts

    if not state["committed"]:
        return len(cfg.tools) + 1
    parts = RequestParts(tools=tuple(cfg.tools), static_system=cfg.static_system_prompt,
                         history=state["committed"], recent=[])
    return len(fmt.adapter.flatten(fmt.adapter.render(parts)).blocks)


@every
@pytest.mark.parametrize("position", ["tail", "before_recent"])
def test_the_dynamic_context_stays_out_of_history_and_system(fmt: Fmt, position: str) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle", dynamic_position=position)
    s = new_state()
    for n in range(2):
        s = F.append_messages(s, turn(fmt, n)[:-1], cfg)
        request = F.build_request(s, cfg, "SECRET-CLOCK")
        s = F.append_message(s, turn(fmt, n)[-1], cfg)
        assert "SECRET-CLOCK" in json.dumps(request)
        system = {k: v for k, v in request.items() if k in ("system", "config")}
        assert "SECRET-CLOCK" not in json.dumps(system)
    assert "SECRET-CLOCK" not in dumps(s)


@every
def test_compaction_keeps_pairs_starts_with_a_user_turn_and_loses_nothing(fmt: Fmt) -> None:
    events: list[CompactionEvent] = []
    cfg = config_for(fmt, transition_mode="agent_cycle", history_max_tokens=700,
                     on_compaction=events.append)
    s, appended = new_state(), []
    for n in range(10):
        messages = turn(fmt, n, calls=1 + n % 2)
        s = F.append_messages(s, messages, cfg)
        appended += messages
    assert events and s["committed_tokens"] <= 700
    assert fmt.adapter.is_user_turn(s["committed"][0])
    assert [m for e in events for m in e.removed] + s["committed"] == appended
    for e in events:
        assert fmt.adapter.is_user_turn(e.removed[0])


@every
def test_summary_requests_reuse_the_cached_prefix(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle", tools=[fmt.tool()])
    s = new_state()
    for n in range(3):
        s = F.append_messages(s, turn(fmt, n), cfg)
    n_stable = _stable_blocks(fmt, cfg, s)
    normal = keys(fmt, F.build_request(F.append_message(s, fmt.user("next"), cfg), cfg))
    summary = keys(fmt, F.build_summary_request(s, cfg, instruction="Summarise."))
    assert summary[:n_stable] == normal[:n_stable]
    folded = F.apply_summary(s, "Three questions were answered.", cfg, keep_last_rounds=1)
    assert folded["committed"][1:] == s["committed"][-len(turn(fmt, 2)):]


@every
def test_state_round_trips_and_a_manager_continues_it(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle")
    messages = turn(fmt, 1, calls=2)
    pm = PromptManager(cfg)
    pm.extend(messages[:2])
    text = pm.dumps()
    assert dumps(loads(text)) == text
    again = PromptManager.loads(text, cfg)
    again.extend(messages[2:])
    assert again.state["committed"] == messages


@every
def test_bad_input_changes_nothing(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle")
    s = F.append_messages(new_state(), [fmt.user("go"), *fmt.calls("x")], cfg)
    before = copy.deepcopy(s)
    pm = PromptManager(cfg, s)
    for bad in ({"role": "robot", "content": "?"}, *fmt.results("nope"), "text"):
        with pytest.raises((StablePrefixError, TypeError)):
            F.append_message(s, bad, cfg)
        with pytest.raises((StablePrefixError, TypeError)):
            pm.append(bad)
    assert s == before and pm.state == before
    pm.extend(fmt.results("x"))
    pm.append(fmt.assistant("done"))
    assert len(pm.state["committed"]) == len(before["recent"]) + len(fmt.results("x")) + 1
    with pytest.raises(InvalidMessageError):
        F.append_message(new_state(), {"role": 7}, cfg)
    assert all_messages(before) == before["recent"]
