"""The state document: versioned, completely validated, round-trips exactly."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from helpers import FORMAT_IDS, FORMATS, Fmt, config_for
from stableprefix import InvalidStateError, PromptConfig, dumps, loads, new_state
from stableprefix.functional import append_messages


def _conversation(fmt: Fmt) -> dict[str, Any]:
    cfg = config_for(fmt, transition_mode="agent_cycle")
    return append_messages(new_state(), [fmt.user("Weather in Oslo?"), fmt.call("c1"),
                                         *fmt.results("c1"), fmt.assistant("Rain, 7°C."),
                                         fmt.user("And tomorrow?")], cfg)


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_round_trip_is_exact(fmt: Fmt) -> None:
    state = _conversation(fmt)
    text = dumps(state)
    assert loads(text) == state
    assert dumps(loads(text)) == text
    assert loads(text.encode()) == state


def test_dumps_is_compact_and_keeps_unicode() -> None:
    text = dumps(_conversation(FORMATS[0]))
    assert ", " not in text.split('"committed"')[0] and "°" in text


def _mutated(path: str, value: Any) -> str:
    state = json.loads(dumps(_conversation(FORMATS[0])))
    target = state
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return json.dumps(state)


_DELETE = object()

BAD_STATES = [
    ("version", 2, "$.version", "unknown state version 2"),
    ("version", "1", "$.version", "version must be 1"),
    ("version", True, "$.version", "version must be 1"),
    ("version", _DELETE, "$.version", "version must be 1"),
    ("committed", _DELETE, "$.committed", "missing field"),
    ("committed", "oops", "$.committed", "must be a list"),
    ("committed.0", "hi", "$.committed[0]", "message object"),
    ("committed.0", {"content": "x"}, "$.committed[0]", "string role"),
    ("committed_counts.0", -1, "$.committed_counts[0]", ">= 0"),
    ("committed_counts.0", 1.5, "$.committed_counts[0]", "whole number"),
    ("committed_counts", [], "$.committed_counts", "entries but committed has"),
    ("committed_tokens", 3, "$.committed_tokens", "add up to"),
    ("recent_tokens", None, "$.recent_tokens", "whole number"),
    ("pending", ["c1", 3], "$.pending[1]", "non-empty string"),
    ("pending", "c1", "$.pending", "list of tool call ids"),
    ("context", 5, "$.context", "string or null"),
    ("format", [], "$.format", "string or null"),
    ("history_hash", "abc", "$.history_hash", "64 lowercase hex"),
    ("compactions", -2, "$.compactions", ">= 0"),
    ("surprise", 1, "$.surprise", "unknown field"),
]


@pytest.mark.parametrize(("path", "value", "where", "words"), BAD_STATES,
                         ids=[f"{p}={v!r}"[:40] for p, v, _, _ in BAD_STATES])
def test_bad_state_names_the_field(path: str, value: Any, where: str, words: str) -> None:
    with pytest.raises(InvalidStateError) as info:
        loads(_mutated(path, value))
    assert info.value.path == where
    assert words in str(info.value)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", '"x"', "NaN",
                                  '{"version": 1, "x": NaN}'])
def test_malformed_json_is_an_invalid_state(text: str) -> None:
    with pytest.raises(InvalidStateError):
        loads(text)


def test_nan_anywhere_is_refused() -> None:
    text = dumps(_conversation(FORMATS[0])).replace('"Weather in Oslo?"', "NaN")
    with pytest.raises(InvalidStateError, match="NaN"):
        loads(text)


def test_loads_rejects_wrong_argument_type() -> None:
    with pytest.raises(TypeError):
        loads({"version": 1})  # type: ignore[arg-type]


def test_dumps_refuses_a_state_holding_non_json() -> None:
    state = _conversation(FORMATS[0])
    broken = copy.deepcopy(state)
    broken["committed"][0]["content"] = float("nan")
    with pytest.raises(InvalidStateError, match=r"\$\.committed\[0\]\.content: .*not finite"):
        dumps(broken)


def test_new_state_is_fresh_each_time() -> None:
    a, b = new_state(), new_state()
    a["committed"].append({"role": "user", "content": "x"})
    assert b["committed"] == []
    assert PromptConfig()  # default config builds


@pytest.mark.parametrize("value", [
    {"a": "plain", "n": [1, 2.5, None, True]},
    {"text": "café ☕ 日本"},
    {"ctl": "tab\there\x00\x1f", "del": "x\x7fy"},
    {"slash": "C:\\users\\u0041", "quote": 'say "hi"'},
    {"mixed": ["ascii", "\u00e9", "\\u00e9"]},
    [],
])
def test_compact_json_is_json_dumps_compact_with_unicode_kept(value: Any) -> None:
    from stableprefix._json import compact_json

    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert compact_json(value) == expected
    assert compact_json(value, ascii_hint=False) == expected


def test_dumps_writes_the_same_text_whatever_the_script() -> None:
    """The encoder is picked by a look at the text; the bytes never depend on it."""
    from stableprefix import PromptConfig, PromptManager

    for texts in (["plain", "ascii"], ["日本語の文", "plain"], ["plain", "café"]):
        pm = PromptManager(PromptConfig())
        pm.extend([{"role": "user", "content": texts[0]},
                   {"role": "assistant", "content": texts[1]}])
        state = pm.state
        plain_json = json.dumps({k: v for k, v in state.items()}, separators=(",", ":"),
                                ensure_ascii=False)
        assert dumps(state).startswith(plain_json[:-1] + ',"digest":"')
        assert pm.dumps() == dumps(state) == pm.dumps()  # the second reuses message texts
