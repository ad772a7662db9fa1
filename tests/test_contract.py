"""One contract, every adapter: the behaviours docs/design.md promises, in each wire format.

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
                     on_event=events.append)
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


# ------------------------------------------------------------- adapter contract


def test_an_incomplete_adapter_is_refused_naming_what_is_missing() -> None:
    from stableprefix.adapters import ProviderAdapter

    class Half(ProviderAdapter):
        name = "half"

        def validate_message(self, message: dict[str, Any], *, index: int) -> None:
            return None

    with pytest.raises(TypeError) as info:
        Half()
    text = str(info.value)
    for missing in ("flatten", "parse_usage", "render", "tool_call_ids", "count_tokens"):
        assert missing in text
    assert "validate_message" not in text


def test_an_adapter_without_a_name_is_refused() -> None:
    from stableprefix.adapters import OpenAIAdapter

    class Nameless(OpenAIAdapter):
        name = ""

    with pytest.raises(TypeError, match="set the class attribute name"):
        Nameless()


@every
def test_adapters_are_immutable_and_survive_copies(fmt: Fmt) -> None:
    adapter = fmt.adapter
    with pytest.raises(AttributeError, match="immutable"):
        adapter.token_counter = None  # type: ignore[misc]
    for clone in (copy.copy(adapter), copy.deepcopy(adapter)):
        assert clone == adapter and hash(clone) == hash(adapter)
        with pytest.raises(AttributeError, match="immutable"):
            clone.token_counter = None  # type: ignore[misc]


def test_every_registered_provider_is_reachable_and_complete() -> None:
    from stableprefix.adapters import get_provider, providers

    seen = {p.name for p in providers()}
    assert {f.name for f in ALL_FORMATS} <= seen
    for entry in providers():
        assert get_provider(entry.name) is entry
        adapter = entry.adapter()
        assert adapter.name == entry.name
        report = {"usage": {"prompt_tokens": 1, "completion_tokens": 1,
                            "input_tokens": 1, "output_tokens": 1},
                  "usageMetadata": {"promptTokenCount": 1}}
        assert entry.parse_usage(report).input_tokens == 1
        assert adapter.parse_usage(report) == entry.parse_usage(report)
        assert entry.make_cache(None) is not None


def test_a_new_provider_is_one_class_and_one_registration() -> None:
    from stableprefix import PromptConfig, PromptManager
    from stableprefix.adapters import (
        OpenAIAdapter,
        get_provider,
        register_provider,
        unregister_provider,
    )
    from stableprefix.sim import cache_for_model

    class AcmeAdapter(OpenAIAdapter):
        name = "acme"

    register_provider(AcmeAdapter, cache_model="stableprefix.sim:RadixCache")
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_provider(AcmeAdapter)
        pm = PromptManager(PromptConfig(adapter=get_provider("acme").adapter()))
        pm.append({"role": "user", "content": "hi"})
        assert loads(pm.dumps())["format"] == "acme"
        assert type(get_provider("acme").make_cache()).__name__ == "RadixCache"
        assert type(cache_for_model("gpt-4.1")).__name__ == "OpenAICache"
    finally:
        unregister_provider("acme")
    from stableprefix import UnknownProviderError

    with pytest.raises(UnknownProviderError, match="'acme'"):
        get_provider("acme")


def test_registering_an_incomplete_adapter_is_refused() -> None:
    from stableprefix.adapters import ProviderAdapter, register_provider

    class Empty(ProviderAdapter):
        name = "empty"

    with pytest.raises(TypeError, match="cannot be registered: it does not implement"):
        register_provider(Empty)


def test_plain_roles_keep_their_promise_and_overriding_validation_drops_them() -> None:
    """A {role, content: text} message of a plain role is valid and carries no tool ids."""
    from stableprefix import check_state
    from stableprefix._check import _plain_roles
    from stableprefix.adapters import providers

    for entry in providers():
        adapter = entry.adapter()
        for role in _plain_roles(adapter):
            message = {"role": role, "content": "some text"}
            adapter.validate_message(message, index=1)
            assert adapter.tool_call_ids(message) == ()
            assert adapter.tool_result_ids(message) == ()
    fmt = ALL_FORMATS[0]
    assert _plain_roles(fmt.adapter)

    class Strict(type(fmt.adapter)):  # type: ignore[misc]
        def validate_message(self, message: Any, *, index: int) -> None:
            if message.get("content") == "forbidden":
                raise InvalidMessageError("forbidden", index=index)
            super().validate_message(message, index=index)

    strict = config_for(fmt).replace(adapter=Strict())
    assert not _plain_roles(strict.adapter)
    state = F.append_messages(new_state(), [fmt.user("hi"), fmt.assistant("ok")],
                              config_for(fmt))
    doc = json.loads(dumps(state))
    doc["committed"][1] = {"role": "assistant", "content": "forbidden"}
    with pytest.raises(StablePrefixError, match="forbidden"):
        check_state(doc, strict)
