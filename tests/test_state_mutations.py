"""Mutated state documents: the doors refuse them cleanly or accept something that works.

Each example takes a valid conversation state (every wire format, tool calls
and results, a turn in progress, a compaction), applies a few random
mutations (fields removed or retyped, counts and hashes changed, messages
reordered or dropped, lone surrogates, huge and deeply nested values), and
sends the document through ``loads``, ``check_state``, every functional
operation and ``PromptManager.loads``. Only library errors, ``TypeError`` and
``ValueError`` may escape; whatever is accepted dumps, loads again and builds
a request valid for its provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import ALL_FORMATS, Fmt
from stableprefix import (
    PromptConfig,
    PromptManager,
    StablePrefixError,
    check_state,
    dumps,
    loads,
    new_state,
)
from stableprefix import functional as F
from stableprefix._json import MAX_DEPTH
from test_properties import _assert_valid_request

ALLOWED = (StablePrefixError, TypeError, ValueError)


def _base(fmt: Fmt, in_turn: bool) -> tuple[PromptConfig, dict[str, Any]]:
    cfg = PromptConfig(adapter=fmt.adapter, static_system_prompt="Be exact.",
                       transition_mode="agent_cycle", history_max_tokens=400)
    msgs = [fmt.user("hello " * 20), fmt.assistant("hi " * 20),
            fmt.user("look it up"), *fmt.calls("c1", "c2"), *fmt.results("c1", "c2"),
            fmt.assistant("found " * 30), fmt.user("again")]
    if in_turn:
        msgs += fmt.calls("c3")
    state = F.append_messages(new_state(key="k"), msgs, cfg)
    return cfg, json.loads(dumps(state))


BASES = [(fmt, _base(fmt, turn)) for fmt in ALL_FORMATS for turn in (False, True)]

FIELDS = ["version", "format", "key", "committed", "committed_counts", "committed_tokens",
          "recent", "recent_counts", "recent_tokens", "pending", "context", "history_hash",
          "compactions"]
ODD_VALUES: list[Any] = [None, True, -1, 0, 2**70, 1.5, "", "x", "\ud800", [], {}, [None],
                         {"role": "user"}, "0" * 64]


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


def _pick_container(doc: dict[str, Any], data: st.DataObject) -> Any:
    """A random dict or list somewhere inside a message of ``doc`` (or ``doc``)."""
    messages = doc.get("committed"), doc.get("recent")
    pool = [m for part in messages if isinstance(part, list) for m in part]
    node: Any = data.draw(st.sampled_from(pool)) if pool else doc
    for _ in range(data.draw(st.integers(0, 3))):
        children = [v for v in (node.values() if isinstance(node, dict) else node)
                    if isinstance(v, (dict, list)) and v] if isinstance(node, (dict, list)) else []
        if not children:
            break
        node = data.draw(st.sampled_from(children))
    return node


def _set_in(node: Any, value: Any, data: st.DataObject) -> None:
    if isinstance(node, dict) and node:
        node[data.draw(st.sampled_from(sorted(node)))] = value
    elif isinstance(node, list) and node:
        node[data.draw(st.integers(0, len(node) - 1))] = value


def _mutate(doc: dict[str, Any], data: st.DataObject) -> str:
    kind = data.draw(st.sampled_from([
        "remove", "retype", "count", "total", "hash", "reorder", "drop", "duplicate",
        "surrogate", "huge", "deep", "value", "pending", "format", "context", "key"]))
    field = data.draw(st.sampled_from(FIELDS))
    lists = [k for k in ("committed", "recent") if isinstance(doc.get(k), list) and doc[k]]
    if kind == "remove":
        doc.pop(field, None)
    elif kind == "retype":
        doc[field] = data.draw(st.sampled_from(ODD_VALUES))
    elif kind in ("count", "total"):
        part = data.draw(st.sampled_from(["committed", "recent"]))
        counts = doc.get(f"{part}_counts")
        if kind == "count" and isinstance(counts, list) and counts:
            counts[data.draw(st.integers(0, len(counts) - 1))] = data.draw(st.integers(-2, 99))
        else:
            doc[f"{part}_tokens"] = data.draw(st.integers(-2, 10_000))
    elif kind == "hash":
        doc["history_hash"] = data.draw(st.sampled_from(["f" * 64, "0" * 64, "F" * 64, "x"]))
    elif kind in ("reorder", "drop", "duplicate") and lists:
        part = data.draw(st.sampled_from(lists))
        items = doc[part]
        i = data.draw(st.integers(0, len(items) - 1))
        if kind == "reorder":
            j = data.draw(st.integers(0, len(items) - 1))
            items[i], items[j] = items[j], items[i]
        elif kind == "drop":
            items.pop(i)
        else:
            items.insert(i, items[i])
    elif kind == "surrogate":
        _set_in(_pick_container(doc, data), "text \ud800 here", data)
    elif kind == "huge":
        _set_in(_pick_container(doc, data), "z" * data.draw(st.sampled_from([10**5, 10**6])), data)
    elif kind == "deep":
        _set_in(_pick_container(doc, data), _deep(data.draw(st.sampled_from(
            [MAX_DEPTH - 4, MAX_DEPTH, 3 * MAX_DEPTH]))), data)
    elif kind == "value":
        _set_in(_pick_container(doc, data), data.draw(st.sampled_from(ODD_VALUES)), data)
    elif kind == "pending":
        doc["pending"] = data.draw(st.sampled_from([[], ["c3"], ["c1"], ["zz"], ["c3", "c3"]]))
    elif kind == "format":
        doc["format"] = data.draw(st.sampled_from([f.name for f in ALL_FORMATS] + [None]))
    elif kind == "context":
        doc["context"] = data.draw(st.sampled_from([None, "ctx", "\ud800"]))
    else:
        doc["key"] = data.draw(st.sampled_from([None, "k2", "", "\udfff"]))
    return kind


def _text(doc: dict[str, Any], data: st.DataObject) -> str:
    text = json.dumps(doc, ensure_ascii=data.draw(st.booleans()))
    if data.draw(st.integers(0, 9)) == 0:  # an overflowing literal or a stray constant
        text = text.replace('"compactions":', '"compactions":1e400,"x":', 1)
    return text


OPERATIONS: list[Callable[[Any, PromptConfig, Fmt], Any]] = [
    lambda s, c, f: F.append_messages(s, f.results("c3") or [f.user("more")], c),
    lambda s, c, f: F.append_message(s, f.user("next"), c),
    lambda s, c, f: F.transition(s, c),
    lambda s, c, f: F.compact(s, c),
    lambda s, c, f: F.record_context(s, "clock 10:00", c.replace(dynamic_position="append")),
    lambda s, c, f: F.build_turn(s, c, "clock 10:01")[1],
    lambda s, c, f: F.build_summary_request(s, c),
    lambda s, c, f: F.apply_summary(s, "so far", c, keep_last_rounds=1),
    lambda s, c, f: F.prefix_fingerprint(s, c),
]


def _accepted_works(fmt: Fmt, cfg: PromptConfig, state: Any) -> None:
    again = check_state(loads(dumps(state)), cfg)
    assert again == state
    if not state["pending"]:
        _assert_valid_request(fmt, cfg, F.build_request(state, cfg))
    pm = PromptManager(cfg, state)
    assert pm.state == state
    pm.dumps()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_states_are_refused_cleanly_or_work(data: st.DataObject) -> None:
    fmt, (cfg, base) = data.draw(st.sampled_from(BASES))
    doc = json.loads(json.dumps(base))
    kinds = [_mutate(doc, data) for _ in range(data.draw(st.integers(1, 3)))]
    text = _text(doc, data)
    try:
        loaded = loads(text)
    except ALLOWED:
        event("refused by loads")
        return
    for op in OPERATIONS:
        try:
            result = op(loaded, cfg, fmt)
        except ALLOWED:
            continue
        if isinstance(result, dict) and "version" in result:
            _accepted_works(fmt, cfg, result)
    try:
        pm = PromptManager.loads(text, cfg)
    except ALLOWED:
        event("refused by the full check")
        return
    event(f"accepted after {'+'.join(sorted(kinds))}")
    _accepted_works(fmt, cfg, pm.state)
    pm.append(fmt.results("c3")[0] if pm.state["pending"] else fmt.user("works"))
