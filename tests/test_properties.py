"""Property tests of the five invariants in docs/design.md, over random operation sequences.

Each example draws a config (provider format, transition mode, dynamic
placement, budget, hooks that succeed, raise or return garbage) and a
sequence of operations, valid or not. Every operation runs on the functional
API and on a ``PromptManager`` side by side; after each one we check:

1. between compactions the cacheable part of the previous request is a
   prefix of the next request's blocks;
2. nothing is lost: committed + recent + removed - summaries == appended;
3. no request separates a tool call from its result;
4. every request is valid for its provider;
5. a failed operation leaves the state untouched and the manager usable,
   and the manager always holds the same state as the functional API.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import ALL_FORMATS, Fmt
from stableprefix import (
    CompactionEvent,
    PromptConfig,
    PromptManager,
    StablePrefixError,
    new_state,
)
from stableprefix import functional as F
from stableprefix._sequence import check_sequence, round_starts
from stableprefix.adapters import RequestParts


def _good_summary(messages: list[Any], target: int, adapter: Any) -> list[Any]:
    starts = round_starts(messages, adapter)
    tail = messages[starts[-1]:]
    return [adapter.summary_message(f"summary of {len(messages)} messages"), *tail]


def _raising(messages: list[Any], target: int, adapter: Any) -> list[Any]:
    raise RuntimeError("summariser is down")


def _garbage(messages: list[Any], target: int, adapter: Any) -> list[Any]:
    return [{"role": "nobody"}]


def _trim(messages: list[Any]) -> list[Any]:
    out = []
    for m in messages:
        if m.get("role") == "tool":
            m = {**m, "content": m["content"][:12]}
        out.append(m)
    return out


def _bad_transition(messages: list[Any]) -> list[Any]:
    raise ValueError("nope")


COMPACTION_HOOKS = [None, _good_summary, _raising, _garbage]
TRANSITION_HOOKS = [None, _trim, _bad_transition]

ops = st.lists(
    st.one_of(
        *[st.tuples(st.just("auto"), st.integers(0, 60))] * 12,
        st.tuples(st.just("user"), st.integers(0, 40)),
        st.tuples(st.just("answer"), st.integers(0, 40)),
        st.tuples(st.just("call"), st.integers(1, 3)),
        st.tuples(st.just("results"), st.integers(0, 60)),
        st.tuples(st.just("bad_result"), st.just(0)),
        st.tuples(st.just("build"), st.integers(0, 4)),
        st.tuples(st.just("transition"), st.just(0)),
        st.tuples(st.just("compact"), st.just(0)),
        st.tuples(st.just("summary"), st.integers(0, 2)),
    ),
    min_size=25, max_size=80,
)

configs = st.fixed_dictionaries({
    "fmt": st.sampled_from(range(len(ALL_FORMATS))),
    "transition_mode": st.sampled_from(["none", "manual", "agent_cycle"]),
    "dynamic_position": st.sampled_from(["auto", "tail", "before_recent", "append"]),
    "history_max_tokens": st.sampled_from([None, 60, 120, 300, 1500]),
    "compaction_hook": st.sampled_from([0, 0, 1, 2, 3]),
    "transition_hook": st.sampled_from([0, 0, 1, 2]),
    "tools": st.booleans(),
})


class Model:
    """Tracks what was appended and what compactions reported."""

    def __init__(self) -> None:
        self.appended: list[Any] = []
        self.removed: list[Any] = []
        self.added: list[Any] = []
        self.prev_prefix: tuple[int, list[str]] | None = None
        self.calls = 0

    def sink(self, ev: CompactionEvent) -> None:
        event(f"compaction: {ev.strategy}")
        self.removed.extend(ev.removed)
        self.added.extend(ev.added)


def _key(m: Any) -> str:
    return json.dumps(m, sort_keys=True)


def _assert_valid_request(fmt: Fmt, cfg: PromptConfig, request: dict[str, Any]) -> None:
    """Invariants 3 and 4 on one built request."""
    assert request.get("tools") != []
    adapter = fmt.adapter
    if fmt.name == "gemini":
        contents = request["contents"]
        assert contents and contents[0]["role"] == "user"
        assert all(a["role"] != b["role"] for a, b in itertools.pairwise(contents))
        assert request["config"].get("tools") != []
        if cfg.static_system_prompt:
            assert request["config"]["system_instruction"] == cfg.static_system_prompt
        assert check_sequence(contents, adapter) == ()
        return
    if fmt.name == "openai_responses":
        items = request["input"]
        if cfg.static_system_prompt:
            assert items[0]["content"] == cfg.static_system_prompt
            items = items[1:]
        convo = [m for m in items if adapter.role_of(m) not in ("system", "developer")]
        assert check_sequence(convo, adapter, first=False) == ()
        return
    messages = request["messages"]
    if fmt.name == "anthropic":
        assert all(m["role"] in ("user", "assistant") for m in messages)
        assert messages and messages[0]["role"] == "user"
        flat = adapter.flatten(request)
        assert flat.marker_count <= 4
        ttls = [b.cache_ttl for b in flat.blocks if b.cache_ttl]
        assert "1h" not in ttls[ttls.index("5m"):] if "5m" in ttls else True
        if cfg.static_system_prompt:
            assert request["system"][0]["text"] == cfg.static_system_prompt
    else:
        body = messages[1:] if cfg.static_system_prompt else messages
        if cfg.static_system_prompt:
            assert messages[0] == {"role": "system", "content": cfg.static_system_prompt}
        messages = body
    convo = [m for m in messages if adapter.role_of(m) not in ("system", "developer")]
    # every call answered right after it, every result answers a call: no orphans
    assert check_sequence(convo, adapter, first=fmt.name == "anthropic") == ()


def _cacheable_keys(fmt: Fmt, cfg: PromptConfig, state: Any, request: dict[str, Any]) -> list[str]:
    """Keys of the blocks of ``request`` that belong to [tools][static][committed]."""
    blocks = fmt.adapter.flatten(request).blocks
    if state["committed"]:
        parts = RequestParts(tools=tuple(cfg.tools), static_system=cfg.static_system_prompt,
                             history=state["committed"], recent=[], context=None)
        n = len(fmt.adapter.flatten(fmt.adapter.render(parts)).blocks)
    else:  # rendering may refuse an empty conversation: one block a tool, one the prompt
        n = len(cfg.tools) + (1 if cfg.static_system_prompt else 0)
    return [b.key for b in blocks[:n]]


def _step(op: tuple[str, int], fmt: Fmt, state: Any, cfg: PromptConfig, model: Model,
          pm: PromptManager) -> Any:
    """Run one op on both front doors; return the new functional state."""
    kind, n = op
    pending = state["pending"]
    if kind == "auto":  # a valid continuation, so sequences get deep
        held = [*state["committed"], *state["recent"]]
        last = held[-1] if held else None
        last_user = last is not None and fmt.adapter.role_of(last) not in (
            "assistant", "model") and not fmt.adapter.tool_call_ids(last)
        if pending:
            kind = "results"
        elif not last_user:
            kind = "user"
        else:
            kind = ["call", "answer", "build", "build"][n % 4]
            n = {"call": 1 + n % 3, "answer": n, "build": n % 5}[kind]
    if kind in ("user", "answer", "call", "results", "bad_result"):
        if kind == "user":
            batch = [fmt.user(f"user says {n} " + "blah " * (3 * n))]
        elif kind == "answer":
            batch = [fmt.assistant(f"answer {n} " + "words " * (3 * n))]
        elif kind == "call":
            model.calls += 1
            batch = fmt.calls(*[f"t{model.calls}_{i}" for i in range(n)])
        elif kind == "results":
            batch = fmt.results(*pending, text="r" * n) if pending else fmt.results("x")
        else:
            batch = fmt.results("nonexistent")
        new = F.append_messages(state, batch, cfg, on_event=model.sink)
        pm.extend(batch)
        model.appended.extend(batch)
        return new
    if kind == "build":
        big = "retrieved passage about orders and parcels. " * 60  # "auto" puts it at the tail
        ctx = [None, "clock: 10:00", "clock: 10:01", "user: alice", big][n]
        before = len(state["committed"]) + len(state["recent"])
        new, request = F.build_turn(state, cfg, ctx)
        pm_request = pm.build_request(ctx)
        assert json.dumps(pm_request) == json.dumps(request)
        if len(new["committed"]) + len(new["recent"]) > before or new["compactions"] > state[
                "compactions"]:
            model.appended.append(fmt.adapter.context_message(ctx or ""))
        _assert_valid_request(fmt, cfg, request)
        _check_prefix(fmt, cfg, new, request, model)
        return new
    if kind == "transition":
        new = F.transition(state, cfg, on_event=model.sink)
        pm.transition()
        return new
    if kind == "compact":
        if cfg.history_max_tokens is None:
            return state
        new = F.compact(state, cfg, on_event=model.sink)
        pm.compact()
        return new
    new = F.apply_summary(state, "summary so far", cfg, keep_last_rounds=n,
                          on_event=model.sink)
    pm.apply_summary("summary so far", keep_last_rounds=n)
    return new


def _check_prefix(fmt: Fmt, cfg: PromptConfig, state: Any, request: dict[str, Any],
                  model: Model) -> None:
    """Invariant 1: the last request's cacheable part is a prefix of this one."""
    keys = [b.key for b in fmt.adapter.flatten(request).blocks]
    if model.prev_prefix is not None and model.prev_prefix[0] == state["compactions"]:
        prev = model.prev_prefix[1]
        assert keys[: len(prev)] == prev, "the cacheable prefix changed between compactions"
        event(f"prefix compared ({'long' if len(prev) > 4 else 'short'})")
    model.prev_prefix = (state["compactions"], _cacheable_keys(fmt, cfg, state, request))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conf=configs, sequence=ops)
def test_invariants_hold_over_random_operations(conf: dict[str, Any],
                                                sequence: list[tuple[str, int]]) -> None:
    fmt = ALL_FORMATS[conf["fmt"]]
    model = Model()
    cfg = PromptConfig(
        adapter=fmt.adapter, static_system_prompt="You are helpful. " * 3,
        tools=[fmt.tool()] if conf["tools"] else [],
        transition_mode=conf["transition_mode"], dynamic_position=conf["dynamic_position"],
        history_max_tokens=conf["history_max_tokens"],
        compaction_hook=COMPACTION_HOOKS[conf["compaction_hook"]],
        transition_hook=TRANSITION_HOOKS[conf["transition_hook"]], on_event=model.sink,
    )
    pm_cfg = cfg.replace(on_event=None)
    state = new_state()
    pm = PromptManager(pm_cfg)
    for op in sequence:
        before = copy.deepcopy(state)
        pm_before = pm.state
        n_app = len(model.appended)
        try:
            state = _step(op, fmt, state, cfg, model, pm)
        except (StablePrefixError, TypeError, ValueError) as exc:
            # Invariant 5: nothing changed, on either side.
            assert state == before, f"{op} failed with {exc!r} but changed the state"
            del model.appended[n_app:]
            event(f"refused: {type(exc).__name__}")
            # The manager may have failed on the same op or (for builds) succeeded
            # first; either way it must hold the same state as before or as new.
            if pm.state != pm_before:
                raise AssertionError(f"{op}: manager changed although the call failed") from exc
            continue
        assert pm.state == state, f"{op}: manager and functional API disagree"
        _check_nothing_lost(state, model, cfg)


def _check_nothing_lost(state: Any, model: Model, cfg: PromptConfig) -> None:
    """Invariant 2 (exact order when no hook rewrites, as multisets otherwise)."""
    held = [*state["committed"], *state["recent"]]
    if cfg.compaction_hook is None and cfg.transition_hook in (None, _bad_transition) and not (
            model.added):
        assert model.removed + held == model.appended
        return
    have = Counter(map(_key, model.removed + held))
    have.subtract(Counter(map(_key, model.added)))
    want = Counter(map(_key, model.appended))
    if cfg.transition_hook is _trim:  # rewrites are reported by content length only
        assert sum(have.values()) == sum(want.values())
    else:
        assert +have == +want
