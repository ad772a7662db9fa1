"""PromptManager: snapshots, persistence, in-place fast path, threads."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from helpers import FORMAT_IDS, FORMATS, Fmt, config_for
from stableprefix import (
    CompactionEvent,
    HookError,
    InvalidStateError,
    PromptConfig,
    PromptManager,
    dumps,
    loads,
    new_state,
)
from stableprefix import functional as F

fmts = pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)


@fmts
def test_state_snapshot_cannot_corrupt_the_manager(fmt: Fmt) -> None:
    pm = PromptManager(config_for(fmt))
    pm.append(fmt.user("hello"))
    snap = pm.state
    snap["committed"].clear()
    snap["committed_tokens"] = 0
    assert len(pm.state["committed"]) == 1 and pm.committed_tokens > 0


@fmts
def test_dumps_loads_continue_the_conversation(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="agent_cycle")
    pm = PromptManager(cfg)
    pm.extend([fmt.user("a"), fmt.call("c1")])
    again = PromptManager.loads(pm.dumps(), cfg)
    assert again.state == pm.state
    again.extend(fmt.results("c1"))
    again.append(fmt.assistant("done"))
    assert len(again.state["committed"]) == 3 + len(fmt.results("c1"))


def test_loads_checks_messages_against_the_adapter() -> None:
    oa, an = FORMATS
    system = {"role": "system", "content": "x"}
    state = json.loads(
        dumps(F.append_message(new_state(), system, config_for(oa)))
    )
    state["format"] = None  # as if written before any adapter was chosen
    with pytest.raises(InvalidStateError, match="no system role"):
        PromptManager.loads(json.dumps(state), config_for(an))
    state["format"] = "openai"
    state["pending"] = ["ghost"]
    with pytest.raises(InvalidStateError) as info:
        PromptManager(config_for(oa), state)
    assert info.value.path == "$.pending"


def test_manager_matches_functional_api_on_the_fast_path() -> None:
    fmt = FORMATS[0]
    cfg = config_for(fmt, transition_mode="agent_cycle", dynamic_position="append")
    pm, state = PromptManager(cfg), new_state()
    for n in range(20):
        turn = [fmt.user(f"q{n}"), fmt.call(f"c{n}"), *fmt.results(f"c{n}")]
        pm.extend(turn)
        state = F.append_messages(state, turn, cfg)
        request = pm.build_request(f"clock {n // 3}")
        state, expected = F.build_turn(state, cfg, f"clock {n // 3}")
        assert request == expected
        pm.append(fmt.assistant(f"a{n}"))
        state = F.append_message(state, fmt.assistant(f"a{n}"), cfg)
    assert pm.state == state


def test_a_failing_event_callback_does_not_undo_the_change_it_reports() -> None:
    seen: list[CompactionEvent] = []

    def boom(event: CompactionEvent) -> None:
        seen.append(event)
        raise RuntimeError("storage down")

    fmt = FORMATS[0]
    cfg = config_for(fmt, history_max_tokens=150, on_event=boom)
    pm = PromptManager(cfg)
    pm.extend([fmt.user("first " * 40), fmt.assistant("reply " * 40)])
    assert pm.committed_tokens <= 150
    with pytest.raises(HookError, match=r"on_event.*storage down.*applied") as info:
        pm.append(fmt.user("second " * 40))
    assert len(seen) == 1 and pm.state["compactions"] == 1  # reported, and it happened
    assert pm.state["committed"][-1]["content"] == "second " * 40
    assert info.value.state is None  # the manager holds the new state itself
    pm.append(fmt.assistant("still usable"))
    # the functional API hands the new state over on the error
    state = F.append_messages(new_state(), [fmt.user("first " * 40), fmt.assistant("reply " * 40)],
                              cfg.replace(on_event=None))
    with pytest.raises(HookError) as info:
        F.append_message(state, fmt.user("second " * 40), cfg)
    assert info.value.state["compactions"] == state["compactions"] + 1


@fmts
def test_eight_threads_appending_lose_nothing(fmt: Fmt) -> None:
    cfg = config_for(fmt, transition_mode="manual", history_max_tokens=None,
                     dynamic_position="tail")
    pm = PromptManager(cfg)
    pm.append(fmt.user("start"))
    errors: list[BaseException] = []
    per_thread = 200

    def worker(t: int) -> None:
        try:
            for i in range(per_thread):
                pm.append(fmt.assistant(f"t{t} m{i}"))
                if i % 20 == 0:
                    pm.build_request(f"ctx {t}")
                    pm.dumps()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    state = pm.state
    texts = [m["content"] for m in state["recent"][1:]]
    assert len(texts) == 8 * per_thread
    assert sorted(texts) == sorted(f"t{t} m{i}" for t in range(8) for i in range(per_thread))
    for t in range(8):  # each thread's messages stay in its own order
        mine = [x for x in texts if x.startswith(f"t{t} ")]
        assert mine == [f"t{t} m{i}" for i in range(per_thread)]
    assert state["recent_tokens"] == sum(state["recent_counts"])


def test_threads_with_compaction_and_transitions() -> None:
    fmt = FORMATS[1]
    events: list[CompactionEvent] = []
    lock = threading.Lock()

    def sink(event: CompactionEvent) -> None:
        with lock:
            events.append(event)

    cfg = config_for(fmt, transition_mode="none", history_max_tokens=400, on_event=sink)
    pm = PromptManager(cfg)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(50):
                pm.extend([fmt.user(f"t{t} q{i} " + "w " * 20), fmt.assistant(f"t{t} a{i}")])
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and events
    state = pm.state
    kept = state["committed"]
    removed = [m for e in events for m in e.removed]
    assert len(removed) + len(kept) == 8 * 50 * 2
    assert state["committed_tokens"] <= 400


def test_manager_rejects_wrong_config_type() -> None:
    with pytest.raises(TypeError, match="PromptConfig"):
        PromptManager({"static_system_prompt": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PromptManager.loads("{}", object())  # type: ignore[arg-type]


def test_manager_summary_flow() -> None:
    fmt = FORMATS[1]
    pm = PromptManager(config_for(fmt, transition_mode="agent_cycle"))
    for n in range(4):
        pm.extend([fmt.user(f"q{n}"), fmt.assistant(f"a{n}")])
    request: dict[str, Any] = pm.build_summary_request(instruction="Summarise.")
    # the one-off instruction carries no cache marker (it would be a wasted write)
    assert request["messages"][-1] == {"role": "user", "content": "Summarise."}
    assert "cache_control" in request["messages"][-2]["content"][-1]
    fp = pm.fingerprint
    pm.apply_summary("They asked four things.", keep_last_rounds=1)
    assert pm.fingerprint != fp
    assert pm.state["committed"][0]["content"] == "They asked four things."
    assert PromptConfig()  # sanity: default config still builds


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_repeated_dumps_write_exactly_what_a_fresh_dumps_writes(fmt: Fmt) -> None:
    """The manager reuses the JSON of messages it already wrote: never stale text."""
    pm = PromptManager(config_for(fmt, transition_mode="agent_cycle"))
    outputs = []

    def check() -> None:
        text = pm.dumps()
        assert text == dumps(pm.state)  # the same bytes as a state dumped from scratch
        assert loads(text) == pm.state
        outputs.append(text)

    check()
    for i in range(4):
        pm.append(fmt.user(f"question {i} ☕"))
        check()
        for message in [*fmt.calls(f"c{i}"), *fmt.results(f"c{i}"), fmt.assistant(f"answer {i}")]:
            pm.append(message)
        check()
        check()
    pm.apply_summary("Asked four questions; all answered.", keep_last_rounds=1)
    check()  # messages dropped from the front
    pm.record_context("now: 10:00")
    check()
    assert len(set(outputs)) < len(outputs)  # some calls did repeat (the cache was used)
