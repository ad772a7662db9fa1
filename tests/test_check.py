"""check_state: the one door every state goes through (loads, functional, manager)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from helpers import ALL_FORMAT_IDS, ALL_FORMATS, FORMATS, Fmt, config_for
from stableprefix import (
    InvalidStateError,
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

OA, AN = FORMATS
allfmts = pytest.mark.parametrize("fmt", ALL_FORMATS, ids=ALL_FORMAT_IDS)


def _conversation(fmt: Fmt, **cfg: Any) -> tuple[PromptConfig, dict[str, Any]]:
    config = config_for(fmt, transition_mode="agent_cycle", **cfg)
    msgs = [fmt.user("find x"), *fmt.calls("c1"), *fmt.results("c1"), fmt.assistant("x is 1"),
            fmt.user("and y?"), *fmt.calls("c2")]
    state = F.append_messages(new_state(key="chat-1"), msgs, config)
    doc = json.loads(dumps(state))
    del doc["digest"]  # a plain dict, as a caller may keep it
    return config, doc


# Every functional operation, for "an unchecked state never escapes as KeyError".
OPERATIONS: list[tuple[str, Callable[[Any, PromptConfig, Fmt], Any]]] = [
    ("append_message", lambda s, c, f: F.append_message(s, f.user("hi"), c)),
    ("append_messages", lambda s, c, f: F.append_messages(s, [f.user("hi")], c)),
    ("transition", lambda s, c, f: F.transition(s, c)),
    ("compact", lambda s, c, f: F.compact(s, c.replace(history_max_tokens=50))),
    ("record_context", lambda s, c, f: F.record_context(s, "now", c)),
    ("build_request", lambda s, c, f: F.build_request(s, c, "now")),
    ("build_turn", lambda s, c, f: F.build_turn(s, c, "now")),
    ("build_summary_request", lambda s, c, f: F.build_summary_request(s, c)),
    ("apply_summary", lambda s, c, f: F.apply_summary(s, "sum", c, keep_last_rounds=1)),
    ("prefix_fingerprint", lambda s, c, f: F.prefix_fingerprint(s, c)),
    ("manager", lambda s, c, f: PromptManager(c, s)),
    ("check_state", lambda s, c, f: check_state(s, c)),
]
opnames = [n for n, _ in OPERATIONS]


@allfmts
def test_a_document_the_library_wrote_passes_and_round_trips(fmt: Fmt) -> None:
    config, state = _conversation(fmt)
    checked = check_state(state, config)
    assert checked == state
    assert check_state(checked, config) is checked  # recognised, not checked twice
    assert dumps(checked) == dumps(loads(dumps(checked)))


def _edited(fmt: Fmt, edit: Callable[[dict[str, Any]], None]) -> tuple[PromptConfig, Any]:
    config, state = _conversation(fmt)
    edit(state)
    return config, state


EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("total", lambda s: s.__setitem__("committed_tokens", 1), "$.committed_tokens"),
    ("count without total", lambda s: s["recent_counts"].__setitem__(0, 1), "$.recent_tokens"),
    ("hash", lambda s: s.__setitem__("history_hash", "f" * 64), "$.history_hash"),
    ("pending", lambda s: s.__setitem__("pending", []), "$.pending"),
    ("format", lambda s: s.__setitem__("format", None), "$.format"),
    ("context", lambda s: s.__setitem__("context", "never sent"), "$.context"),
    ("committed reordered", lambda s: s["committed"].reverse(), "$.committed"),
    ("message removed", lambda s: (s["committed"].pop(1), s["committed_counts"].pop(1)),
     "$.committed"),
]


@pytest.mark.parametrize(("what", "edit", "path"), EDITS, ids=[e[0] for e in EDITS])
@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_a_state_whose_fields_disagree_is_refused_with_the_path(
    fmt: Fmt, what: str, edit: Callable[[dict[str, Any]], None], path: str
) -> None:
    config, state = _edited(fmt, edit)
    before = json.dumps(state)
    with pytest.raises(InvalidStateError) as info:
        check_state(state, config)
    assert info.value.path.startswith(path), (info.value.path, str(info.value))
    assert json.dumps(state) == before  # the caller's state is untouched
    with pytest.raises(InvalidStateError):
        PromptManager.loads(json.dumps(state), config)


@pytest.mark.parametrize("op", [o for _, o in OPERATIONS], ids=opnames)
def test_every_functional_operation_checks_the_state_it_is_given(op: Any) -> None:
    config, state = _edited(OA, lambda s: s.__setitem__("committed_tokens", 7))
    with pytest.raises(InvalidStateError, match=r"\$\.committed_tokens"):
        op(state, config, OA)
    garbage: list[Any] = [{}, {"version": 1}, {**state, "committed": "x"},
                          {**state, "recent": [None]}, {**state, "pending": [1]}]
    for bad in garbage:
        with pytest.raises(StablePrefixError):
            op(bad, config, OA)
    if op is not OPERATIONS[-2][1]:  # PromptManager(config, None) starts afresh
        with pytest.raises(TypeError):
            op(None, config, OA)


def test_a_checked_state_changed_afterwards_is_checked_again() -> None:
    config, state = _conversation(OA)
    checked = check_state(json.loads(json.dumps(state)), config)
    checked["committed"].append({"role": "user", "content": "smuggled"})
    with pytest.raises(InvalidStateError, match=r"\$\.committed_counts"):
        F.append_message(checked, OA.user("x"), config)
    other = check_state(json.loads(json.dumps(state)), config)
    other["committed_tokens"] += 1
    with pytest.raises(InvalidStateError, match=r"\$\.committed_tokens"):
        F.build_request(other, config)
    # checked for one adapter is not checked for another
    with pytest.raises(InvalidStateError, match=r"\$\.format"):
        check_state(check_state(state, config), config_for(AN))


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_edited_token_counts_are_recomputed_not_trusted(fmt: Fmt) -> None:
    config, state = _conversation(fmt)
    honest = check_state(json.loads(json.dumps(state)), config)
    state["committed_counts"] = [1] * len(state["committed_counts"])
    state["committed_tokens"] = len(state["committed_counts"])
    before = json.dumps(state)
    fixed = check_state(state, config)
    assert fixed["committed_counts"] == [
        config.adapter.count_tokens(m) for m in state["committed"]]
    assert fixed == honest
    assert json.dumps(state) == before  # the caller's state is untouched
    budget = config.replace(history_max_tokens=honest["committed_tokens"] + 1)
    assert F.compact(state, budget)["committed_tokens"] < honest["committed_tokens"]


def _counting(monkeypatch: pytest.MonkeyPatch, fmt: Fmt) -> list[int]:
    """Count the adapter's token counting calls."""
    calls: list[int] = []
    kind = type(config_for(fmt).adapter)
    original = kind.count_tokens

    def counted(self: Any, message: Any) -> int:
        calls.append(1)
        return original(self, message)

    monkeypatch.setattr(kind, "count_tokens", counted)
    return calls


def test_a_document_read_back_unchanged_skips_recomputing_but_an_edited_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, plain = _conversation(OA)
    state = check_state(plain, config)
    text = dumps(state)
    assert text.endswith('"}') and '"digest":"' in text[-80:]
    calls = _counting(monkeypatch, OA)
    assert check_state(loads(text), config) == state
    assert check_state(loads(text.encode()), config) == state  # as a database returns it
    assert calls == []  # the digest vouched for the counts: none recounted
    assert check_state(loads(dumps(plain)), config) == state
    assert len(calls) == len(state["committed"]) + len(state["recent"])  # no digest: recounted
    edited = text.replace('"committed_tokens":', '"committed_tokens":1', 1)
    edited = edited.replace(f'"committed_counts":{json.dumps(state["committed_counts"])}'.replace(
        " ", ""), '"committed_counts":' + json.dumps(
            [state["committed_counts"][0] + 10, *state["committed_counts"][1:]]).replace(" ", ""))
    doc = json.loads(edited)
    if doc["committed_tokens"] == sum(doc["committed_counts"]):  # both edited consistently
        fixed = check_state(loads(edited), config)
        assert fixed["committed_counts"] == state["committed_counts"]  # recomputed
    hashed = text.replace(state["history_hash"], "e" * 64)
    with pytest.raises(InvalidStateError, match=r"\$\.history_hash"):
        check_state(loads(hashed), config)


def test_dumps_vouches_only_for_derived_fields_the_library_checked() -> None:
    """An edited state dumped again gets no digest, so it cannot skip the check."""
    config, plain = _conversation(OA)
    assert '"digest"' not in dumps(plain)  # never checked: nothing vouches for it
    loaded = loads(dumps(check_state(plain, config)))
    assert dumps(loaded).endswith('"}') and '"digest":"' in dumps(loaded)[-80:]
    loaded["history_hash"] = "e" * 64
    loaded["committed_counts"] = [0] * len(loaded["committed_counts"])
    loaded["committed_tokens"] = 0
    text = dumps(loaded)
    assert '"digest"' not in text
    with pytest.raises(InvalidStateError, match=r"\$\.history_hash"):
        check_state(loads(text), config)


def test_a_digest_binds_the_counts_to_the_adapter_that_computed_them() -> None:
    """Read with an adapter that counts differently, a document is recounted."""

    class Fixed:
        def count_text(self, text: str) -> int:
            return 1000

    config, plain = _conversation(OA)
    text = dumps(check_state(plain, config))
    other = config.replace(adapter=type(config.adapter)(token_counter=Fixed()))
    recounted = check_state(loads(text), other)
    assert recounted["committed_counts"] == [
        other.adapter.count_tokens(m) for m in plain["committed"]]
    assert recounted["committed_counts"] != plain["committed_counts"]
    assert check_state(loads(text), config)["committed_counts"] == plain["committed_counts"]
    assert '"digest"' not in dumps(recounted)  # its own counter: nothing to bind to


def test_check_state_rejects_a_config_that_is_not_one() -> None:
    with pytest.raises(TypeError, match="PromptConfig"):
        check_state(new_state(), None)  # type: ignore[arg-type]


# ---------------------------------------------------------- hostile documents


def test_overflowing_number_in_a_document_is_refused() -> None:
    config, state = _conversation(OA)
    text = dumps(state).replace('"content":"find x"', '"content":"find x","n":1e400')
    with pytest.raises(InvalidStateError, match=r"not valid JSON.*1e400"):
        loads(text)
    with pytest.raises(InvalidStateError):
        PromptManager.loads(text, config)


@pytest.mark.parametrize("where", ["content", "key", "context", "pending", "field name"])
def test_lone_surrogates_in_a_document_are_refused_with_the_path(where: str) -> None:
    _, state = _conversation(OA)
    text = dumps(state)
    edits = {
        "content": ('"content":"find x"', '"content":"find \\ud800"', "$.committed[0].content"),
        "key": ('"key":"chat-1"', '"key":"chat-\\udfff"', "$.key"),
        "context": ('"context":null', '"context":"\\ud800"', "$.context"),
        "pending": ('"pending":["c2"]', '"pending":["\\ud800"]', "$.pending[0]"),
        "field name": ('"version":1,', '"version":1,"\\ud800":1,', "$"),
    }
    old, new, path = edits[where]
    assert old in text
    with pytest.raises(InvalidStateError) as info:
        loads(text.replace(old, new))
    assert info.value.path == path
    assert "surrogate" in str(info.value)


@pytest.mark.parametrize("encoded", ["str", "bytes"])
def test_raw_lone_surrogates_in_a_document_are_refused(encoded: str) -> None:
    _, state = _conversation(OA)
    text = dumps(state).replace('"content":"find x"', '"content":"find \ud800"')
    data: str | bytes = text if encoded == "str" else text.encode("utf-8", "surrogatepass")
    with pytest.raises(InvalidStateError) as info:
        loads(data)
    assert info.value.path == "$.committed[0].content" and "surrogate" in str(info.value)


def test_a_document_that_only_looks_like_it_holds_a_surrogate_escape_loads() -> None:
    config = config_for(OA)
    state = F.append_message(new_state(), OA.user("find \\ud800 é"), config)
    text = dumps(state)
    assert "\\\\ud800" in text  # an escaped backslash, then "ud800"
    loaded = check_state(loads(text), config)
    assert loaded == state
    assert loads(dumps(loaded)) == loaded
    assert loads(text.encode()) == loads(text)
    assert loads(b"\xef\xbb\xbf" + text.encode()) == loads(text)  # a UTF-8 BOM
    assert loads(text.encode("utf-16")) == loads(text)


def test_a_hand_built_state_with_a_surrogate_is_refused() -> None:
    config, state = _conversation(OA)
    state["recent"][0] = {**state["recent"][0], "content": "x\ud800"}
    with pytest.raises(InvalidStateError, match=r"\$\.recent\[0\]\.content.*surrogate"):
        check_state(state, config)
    with pytest.raises(InvalidStateError, match="surrogate"):
        dumps(state)


def _deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"v": value}
    return value


def test_nesting_beyond_the_limit_is_refused_everywhere() -> None:
    config = config_for(AN)
    deep_ok = {"role": "user", "content": "q", "meta": _deep(MAX_DEPTH - 1)}
    too_deep = {"role": "user", "content": "q", "meta": _deep(MAX_DEPTH)}
    openai = config_for(OA)
    state = F.append_message(new_state(), deep_ok, openai)  # at the limit: accepted
    assert loads(dumps(state)) == state
    with pytest.raises(StablePrefixError, match=f"deeper than {MAX_DEPTH}"):
        F.append_message(new_state(), too_deep, openai)
    doc = json.loads(dumps(state))
    doc["committed"][0] = too_deep
    with pytest.raises(InvalidStateError, match=f"deeper than {MAX_DEPTH}"):
        loads(json.dumps(doc))
    hostile = "[" * 100_000 + "]" * 100_000
    with pytest.raises(InvalidStateError):
        loads(hostile)
    assert config  # the Anthropic config builds


def test_a_value_containing_itself_is_refused() -> None:
    loop: dict[str, Any] = {"role": "user", "content": "x"}
    loop["self"] = loop
    with pytest.raises(StablePrefixError, match="contains itself"):
        F.append_message(new_state(), loop, config_for(OA))
    pm = PromptManager(config_for(OA))
    with pytest.raises(StablePrefixError, match="contains itself"):
        pm.append(loop)
    pm.append(OA.user("still fine"))
    state = pm.state
    state["recent"].append(loop)
    with pytest.raises(StablePrefixError):
        check_state(state, config_for(OA))


def test_a_document_the_library_wrote_loads_at_any_stack_depth() -> None:
    config = config_for(OA)
    deep = {"role": "user", "content": "q", "meta": _deep(MAX_DEPTH - 1)}
    text = dumps(F.append_message(new_state(), deep, config))
    limit = sys.getrecursionlimit()
    results: list[Any] = []

    def dive(n: int) -> None:
        if n:
            dive(n - 1)
            return
        results.append(PromptManager.loads(text, config).state)
        results.append(check_state(loads(text), config))

    dive(limit - 60)  # nearly all the stack is used up by the caller
    assert results[0] == results[1] == loads(text)
    assert sys.getrecursionlimit() == limit


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
@pytest.mark.parametrize("edit", ["role", "blank", "empty", "extra", "not a dict", "first"])
def test_one_bad_message_among_plain_ones_is_found_with_its_path(fmt: Fmt, edit: str) -> None:
    """Long runs of plain text messages are checked in bulk; one bad one still shows."""
    config = config_for(fmt)
    msgs = [fmt.user(f"q{i}") if i % 2 == 0 else fmt.assistant(f"a{i}") for i in range(8)]
    state = F.append_messages(new_state(), msgs, config)
    doc = json.loads(dumps(state))
    where = 0 if edit == "first" else 5
    message = doc["committed"][where]
    if edit == "role":
        message["role"] = "robot"
    elif edit == "blank":
        message["content"] = "  \n "
    elif edit == "empty":
        message["content"] = ""
    elif edit == "extra":
        message["name"] = 7
    elif edit == "not a dict":
        doc["committed"][where] = 7
    else:
        message["role"] = "assistant"  # a conversation may not start with it everywhere
    try:  # what the adapter says of the edited message on its own
        config.adapter.validate_message(doc["committed"][where], index=where)
        if where == 0:
            config.adapter.check_first(doc["committed"][0], index=0)
        accepted = True
    except (StablePrefixError, AttributeError):
        accepted = False
    for given in (lambda: doc, lambda: loads(json.dumps(doc))):  # a dict, a parsed document
        with pytest.raises(InvalidStateError) as info:
            check_state(given(), config)
        if accepted:  # then only the edit itself shows, in the hash
            assert info.value.path == "$.history_hash"
        else:
            assert info.value.path.startswith(f"$.committed[{where}]"), info.value.path


@pytest.mark.parametrize("messages, flat, plain", [
    ([], True, False),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}], True, True),
    ([{"role": "user", "content": "hi", "name": "x"}], True, False),
    ([{"role": "user", "content": [{"type": "text", "text": "hi"}]}], False, False),
    ([{"role": "user", "content": "  "}], True, False),
    ([{"role": "user", "content": ""}], True, False),
    ([{"role": "user", "content": 5}], True, False),
    ([{"role": "robot", "content": "hi"}], True, False),
    ([{"role": ["user"], "content": "hi"}], False, False),
    ([{"type": "function_call", "call_id": "c"}], False, False),
    ([7], False, False),
    ([{"role": "user", "meta": {"a": 1}}], False, False),
])
def test_the_bulk_tests_agree_with_the_per_message_rules(
    messages: list[Any], flat: bool, plain: bool,
) -> None:
    from stableprefix._check import _all_plain
    from stableprefix._json import all_flat

    assert all_flat(messages) is flat
    assert _all_plain(messages, frozenset({"user", "assistant"})) is plain


@pytest.mark.parametrize("bad", [7, {"role": ["user"], "content": "x"}, {"role": "user"}])
def test_the_order_check_refuses_what_the_structure_check_would_with_a_library_error(
    bad: Any,
) -> None:
    """Even on a state whose structure is taken as checked, no foreign exception escapes."""
    from stableprefix._check import _check_order

    config = config_for(OA)
    state = dict(F.append_messages(new_state(), [OA.user("a"), OA.assistant("b")], config))
    state["committed"] = [state["committed"][0], bad]
    with pytest.raises(InvalidStateError) as info:
        _check_order(config.adapter, state)  # type: ignore[arg-type]
    assert info.value.path.startswith("$.committed[1]")
