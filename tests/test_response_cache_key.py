"""Response-cache keys: same request spelled differently -> same key; any change that can
alter the answer -> a different key; bad values -> RequestKeyError naming the path."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessage

from stableprefix import PromptConfig, PromptManager, RequestKeyError, ResponseCache
from stableprefix.response_cache import EXCLUDED_ANYWHERE, EXCLUDED_FIELDS

BASE: dict[str, Any] = {
    "model": "gpt-5-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "temperature": 0.5,
    "max_tokens": 100,
}


def key(request: dict[str, Any], namespace: str = "t", endpoint: str = "any") -> str:
    return ResponseCache(namespace=namespace).key(request, endpoint=endpoint)


def test_spelling_does_not_change_the_key() -> None:
    reordered = {k: BASE[k] for k in reversed(list(BASE))}
    reordered["tools"] = [
        {"function": {"parameters": {"type": "object"}, "name": "f"}, "type": "function"}
    ]
    assert key(reordered) == key(BASE)
    as_tuples = {**BASE, "messages": tuple(BASE["messages"])}
    assert key(as_tuples) == key(BASE)
    assert key({**BASE, "max_tokens": 100.0}) == key(BASE)
    extra = {k: v for k, v in BASE.items() if k != "temperature"}
    assert key({**extra, "extra_body": {"temperature": 0.5}}) == key(BASE)


def test_sdk_message_objects_key_like_their_json() -> None:
    sdk = ChatCompletionMessage(role="assistant", content="Hello")
    plain = {"role": "assistant", "content": "Hello"}
    a = {**BASE, "messages": [*BASE["messages"], sdk]}
    b = {**BASE, "messages": [*BASE["messages"], plain]}
    assert key(a) == key(b)


NOT_OUTPUT: list[tuple[str, Any]] = [
    ("prompt_cache_key", "chat-42"),
    ("prompt_cache_retention", "24h"),
    ("prompt_cache_options", {"mode": "explicit", "ttl": "30m"}),
    ("diagnostics", {"previous_message_id": "msg_1"}),
    ("metadata", {"user_id": "u1"}),
    ("user", "u1"),
    ("safety_identifier", "s1"),
    ("store", True),
    ("stream", True),
    ("stream_options", {"include_usage": True}),
    ("timeout", 30),
    ("max_retries", 5),
    ("extra_headers", {"x-trace": "1"}),
    ("extra_query", {"a": "b"}),
]


@pytest.mark.parametrize(("field", "value"), NOT_OUTPUT)
def test_fields_that_cannot_change_the_answer_are_left_out(field: str, value: Any) -> None:
    assert field in EXCLUDED_FIELDS
    changed = {**BASE, field: value}
    assert key(changed) == key(BASE)
    assert ResponseCache(namespace="t").explain_key(changed).excluded == (f"$.{field}",)


def test_every_excluded_field_is_tested() -> None:
    assert {f for f, _ in NOT_OUTPUT} | {"http_options"} == set(EXCLUDED_FIELDS)
    assert set(EXCLUDED_ANYWHERE) == {"cache_control", "prompt_cache_breakpoint"}


def test_cache_markers_at_any_depth_are_left_out() -> None:
    marked = copy.deepcopy(BASE)
    marked["messages"][1]["content"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    marked["messages"][0]["prompt_cache_breakpoint"] = True
    marked["tools"][0]["cache_control"] = {"type": "ephemeral"}
    explained = ResponseCache(namespace="t").explain_key(marked)
    assert explained.key == key(BASE)
    assert explained.excluded == (
        "$.messages[0].prompt_cache_breakpoint",
        "$.messages[1].content[0].cache_control",
        "$.tools[0].cache_control",
    )


def test_gemini_http_options_inside_config_are_left_out() -> None:
    req = {"model": "gemini-2.5-flash", "contents": "Hi", "config": {"temperature": 0}}
    with_http = {**req, "config": {"temperature": 0, "http_options": {"timeout": 5}}}
    assert key(with_http) == key(req)
    assert key({**req, "config": {"temperature": 1}}) != key(req)


def _set(path: list[Any], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


OUTPUT_CHANGING = [
    (["model"], "gpt-5"),
    (["messages", 0, "content"], "Be verbose."),
    (["messages", 1, "content", 0, "text"], "Hi!"),
    (["messages", 1, "role"], "developer"),
    (["messages"], list(reversed(BASE["messages"]))),
    (["tools", 0, "function", "name"], "g"),
    (["tool_choice"], "required"),
    (["temperature"], 0.0),
    (["top_p"], 0.9),
    (["top_k"], 5),
    (["seed"], 7),
    (["n"], 2),
    (["max_tokens"], 101),
    (["stop"], ["\n"]),
    (["response_format"], {"type": "json_object"}),
    (["reasoning_effort"], "high"),
    (["thinking"], {"type": "enabled", "budget_tokens": 1024}),
    (["frequency_penalty"], 0.1),
    (["parallel_tool_calls"], False),
    (["some_new_provider_option"], 1),
]


@pytest.mark.parametrize(("path", "value"), OUTPUT_CHANGING)
def test_any_output_changing_field_changes_the_key(path: list[Any], value: Any) -> None:
    assert key(_set(path, value)) != key(BASE)


def test_namespace_and_endpoint_are_part_of_every_key() -> None:
    assert key(BASE, namespace="a") != key(BASE, namespace="b")
    assert key(BASE, endpoint="openai.chat") != key(BASE, endpoint="openai.responses")
    with pytest.raises(TypeError, match="namespace"):
        ResponseCache()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="namespace"):
        ResponseCache(namespace="")
    with pytest.raises(ValueError, match="endpoint"):
        key(BASE, endpoint="openai.chats")


def test_key_fn_replaces_the_document_but_keeps_the_namespace() -> None:
    def by_last(request: Any) -> str:
        return str(request["messages"][-1]["content"])

    a = ResponseCache(namespace="a", key_fn=by_last)
    other = _set(["model"], "gpt-5")
    assert a.key(other) == a.key(BASE)
    assert a.explain_key(BASE).document == {"key_fn": str(BASE["messages"][-1]["content"])}
    assert ResponseCache(namespace="b", key_fn=by_last).key(BASE) != a.key(BASE)
    with pytest.raises(TypeError, match="key_fn must return a str"):
        ResponseCache(namespace="a", key_fn=lambda r: 1).key(BASE)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        (
            {"model": "m", "messages": [{"role": "user", "content": {1, 2}}]},
            "$.messages[0].content",
        ),
        ({"model": "m", "temperature": math.nan}, "$.temperature"),
        ({"model": "m", "tools": [{"f": object()}]}, "$.tools[0].f"),
        ({"model": "m", "metadata_x": {1: "a"}}, "$.metadata_x"),
    ],
)
def test_unserialisable_requests_name_the_path(bad: dict[str, Any], path: str) -> None:
    with pytest.raises(RequestKeyError) as info:
        key(bad)
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


def test_request_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="mapping"):
        key([("model", "m")])  # type: ignore[arg-type]


def _manager(history: list[str], recent: str) -> PromptManager:
    pm = PromptManager(PromptConfig(static_system_prompt="Be brief.", transition_mode="manual"))
    for i, text in enumerate(history):
        pm.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    pm.transition()
    pm.append({"role": "user", "content": recent})
    return pm


def test_turn_key_follows_the_fingerprint_and_the_turn() -> None:
    cache = ResponseCache(namespace="t")
    settings = {"model": "gpt-5-mini", "temperature": 0}
    a = cache.turn_key(_manager(["q1", "a1"], "q2"), settings)
    assert a == cache.turn_key(_manager(["q1", "a1"], "q2"), dict(reversed(settings.items())))
    assert a != cache.turn_key(_manager(["q1", "a1!"], "q2"), settings)
    assert a != cache.turn_key(_manager(["q1", "a1"], "q3"), settings)
    assert a != cache.turn_key(_manager(["q1", "a1"], "q2"), {**settings, "temperature": 1})
    assert a != cache.turn_key(_manager(["q1", "a1"], "q2"), settings, dynamic_system_prompt="x")
    assert a != ResponseCache(namespace="u").turn_key(_manager(["q1", "a1"], "q2"), settings)
    doc = ResponseCache(namespace="t")
    pm = _manager(["q1", "a1"] * 50, "q2")
    explained = __import__("stableprefix.response_cache._key", fromlist=["turn_key"]).turn_key(
        pm, settings, namespace="t"
    )
    assert explained.document["fingerprint"] == pm.fingerprint
    assert len(explained.document["recent"]) == 1  # the history is not in the document
    assert doc.turn_key(pm, settings) == explained.key


def test_turn_key_rejects_what_is_not_a_manager() -> None:
    with pytest.raises(TypeError, match="PromptManager"):
        ResponseCache(namespace="t").turn_key({"messages": []}, {})  # type: ignore[arg-type]
